"""Timed access changes through a running jitgate, as its users cause them (Python stdlib only).

    figures.py approval --port P [--poll P2 ...] --rounds N
        A requester asks for access (manual approval) through the portal; a reviewer approves
        it on the review page while a client polls the app with the requester's cookie on each
        port in [P, P2...]. The gap between the approval and each port's first 200.
    figures.py revoke --port P --poll P2 --rounds N
        A requester gets access (auto approval) through the portal; an admin revokes it with
        the JSON API while clients poll the app on P and P2 with the requester's cookie. The
        time until both answer "locked".

P is the port browsers use (the portal and the app are app.localhost:P and access.localhost:P);
a poll port is another jitgate instance serving the same hosts (instances behind one address).
Users come from benches/load/lib.sh's users file: eng<i> (manual approval), sre<i> (auto),
reviewer, admin, all with one password.
"""

import argparse
import http.client
import json
import statistics
import sys
import threading
import time
import urllib.parse

PASSWORD = "load-bench-password"
POLL_TIMEOUT = 10.0


def field(html, name):
    marker = f'name="{name}" value="'
    value = html.split(marker, 1)[1].split('"', 1)[0]
    return value.replace("&#x2f;", "/").replace("&#38;", "&").replace("&amp;", "&")


class Browser:
    """Cookies per host:port (jitgate binds them to both), redirects followed, every
    *.localhost host reached on the loopback address."""

    def __init__(self):
        self.jar = {}

    def cookie_header(self, netloc):
        return "; ".join(f"{k}={v}" for k, v in self.jar.get(netloc, {}).items())

    def send(self, method, url, body=None, headers=None, follow=True):
        for _ in range(10):
            parts = urllib.parse.urlsplit(url)
            connection = http.client.HTTPConnection("127.0.0.1", parts.port, timeout=10)
            sent = {"Host": parts.netloc, "Accept": "text/html"}
            sent.update(headers or {})
            cookie = self.cookie_header(parts.netloc)
            if cookie:
                sent["Cookie"] = cookie
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            text = response.read().decode()
            for header in response.headers.get_all("Set-Cookie") or []:
                pair, _, attributes = header.partition(";")
                name, _, value = pair.strip().partition("=")
                cookies = self.jar.setdefault(parts.netloc, {})
                if "max-age=0" in attributes.lower():
                    cookies.pop(name, None)
                else:
                    cookies[name] = value
            connection.close()
            location = response.headers.get("Location")
            if not follow or response.status not in (301, 302, 303, 307, 308) or not location:
                return response.status, text, url
            url = urllib.parse.urljoin(url, location)
            if response.status in (301, 302, 303):
                method, body, headers = "GET", None, None
        raise RuntimeError(f"too many redirects from {url}")

    def post_form(self, url, fields):
        body = urllib.parse.urlencode(fields)
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        return self.send("POST", url, body, headers)


class Site:
    def __init__(self, port):
        self.port = port
        self.app = f"http://app.localhost:{port}/"
        self.portal = f"http://access.localhost:{port}"

    def sign_in_via_app(self, email):
        """A browser that visited the app, signed in and landed where jitgate sent it."""
        browser = Browser()
        status, html, url = browser.send("GET", self.app)
        assert url.startswith(f"{self.portal}/auth/sign-in"), f"the app sent us to {url}"
        status, html, url = browser.post_form(
            f"{self.portal}/auth/sign-in",
            {"csrf": field(html, "csrf"), "rd": field(html, "rd"), "email": email,
             "password": PASSWORD},
        )
        assert url.startswith(f"{self.portal}/request/app"), f"{email} signed in, ended at {url}"
        return browser, html

    def ask(self, browser, form_html, reason):
        """Submits the request form; the status and URL the browser ends on."""
        status, html, url = browser.post_form(
            f"{self.portal}/request/app",
            {"csrf": field(form_html, "csrf"), "rd": self.app, "duration": "3600",
             "reason": reason},
        )
        return status, url

    def signed_in(self, email):
        browser = Browser()
        status, html, url = browser.send("GET", f"{self.portal}/auth/sign-in")
        status, html, url = browser.post_form(
            f"{self.portal}/auth/sign-in",
            {"csrf": field(html, "csrf"), "rd": field(html, "rd"), "email": email,
             "password": PASSWORD},
        )
        assert status == 200, f"signing in as {email}: {status} at {url}"
        return browser


class Poller(threading.Thread):
    """Polls the app through one jitgate port with a session cookie, as a script would
    (JSON answers: 200 from the upstream, 403 "locked"), until `done(status, body)`."""

    def __init__(self, port, host, cookie, done):
        super().__init__(daemon=True)
        self.port, self.host, self.cookie, self.done = port, host, cookie, done
        self.first = None  # the first (status, body)
        self.at = None  # when done() first held
        self.polls = 0
        self.ready = threading.Event()
        self.stop = threading.Event()

    def run(self):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        headers = {"Host": self.host, "Cookie": f"jitgate_session={self.cookie}",
                   "Accept": "application/json"}
        deadline = time.monotonic() + POLL_TIMEOUT + 5
        while not self.stop.is_set() and time.monotonic() < deadline:
            connection.request("GET", "/", headers=headers)
            response = connection.getresponse()
            body = response.read().decode(errors="replace")
            now = time.monotonic()
            self.polls += 1
            if self.first is None:
                self.first = (response.status, body)
                self.ready.set()
            if self.done(response.status, body):
                self.at = now
                break
            time.sleep(0.0005)
        self.ready.set()
        connection.close()


def allowed(status, body):
    return status == 200


def locked(status, body):
    return status == 403 and '"locked"' in body


def ms(seconds):
    return f"{seconds * 1000:.1f}"


def summary(label, values):
    return (f"{label}: median {ms(statistics.median(values))} ms, "
            f"min {ms(min(values))}, max {ms(max(values))} (n={len(values)})")


def watch(site, polls, cookie, done, expect_first):
    pollers = [Poller(port, f"app.localhost:{site.port}", cookie, done) for port in polls]
    for poller in pollers:
        poller.start()
    for poller in pollers:
        poller.ready.wait(5)
        status, body = poller.first
        assert expect_first(status, body), f"port {poller.port} first answered {status} {body}"
    time.sleep(0.05)  # let the pollers settle into their loops
    return pollers


def approval(args):
    site = Site(args.port)
    polls = [args.port] + args.poll
    reviewer = site.signed_in("reviewer@example.com")
    gaps = {port: [] for port in polls}
    responses = []
    for round_ in range(1, args.rounds + 1):
        requester, form = site.sign_in_via_app(f"eng{round_}@example.com")
        status, url = site.ask(requester, form, f"approval latency, round {round_}")
        assert "/requests/" in url, f"a manual request should wait for review, ended at {url}"
        request_id = urllib.parse.urlsplit(url).path.rsplit("/", 1)[1]
        cookie = requester.jar[f"app.localhost:{site.port}"]["jitgate_session"]
        pollers = watch(site, polls, cookie, allowed, lambda s, b: locked(s, b))
        status, html, _ = reviewer.send("GET", f"{site.portal}/review")
        csrf = field(html, "csrf")
        sent = time.monotonic()
        status, html, url = reviewer.post_form(
            f"{site.portal}/review/{request_id}/approve",
            {"csrf": csrf, "duration": "3600", "note": "approved by the benchmark"},
        )
        answered = time.monotonic()
        assert status == 200, f"approving {request_id}: {status} at {url}"
        for poller in pollers:
            poller.join(POLL_TIMEOUT)
            poller.stop.set()
            assert poller.at is not None, f"port {poller.port} never let the requester in"
            gaps[poller.port].append(poller.at - sent)
        responses.append(answered - sent)
        print(f"  round {round_}: approve answered in {ms(answered - sent)} ms; first 200 "
              + ", ".join(f"on :{p.port} {ms(p.at - sent)} ms after the approve was sent "
                          f"({p.polls} polls)" for p in pollers), file=sys.stderr)
    print(summary("the reviewer's approve request (sent to answered)", responses))
    for port, values in gaps.items():
        role = "the instance the reviewer used" if port == args.port else "the other instance"
        print(summary(f"approve sent to the requester's first 200 through {role} (:{port})",
                      values))


def revoke(args):
    site = Site(args.port)
    polls = [args.port] + args.poll
    admin = site.signed_in("admin@example.com")
    status, me, _ = admin.send("GET", f"{site.portal}/api/v1/me",
                               headers={"Accept": "application/json"})
    csrf = json.loads(me)["csrf_token"]
    both, responses = [], []
    for round_ in range(1, args.rounds + 1):
        email = f"sre{round_ + 1}@example.com"
        requester, form = site.sign_in_via_app(email)
        status, url = site.ask(requester, form, f"revoke propagation, round {round_}")
        assert url == site.app and status == 200, f"auto approval should open the app: {url}"
        cookie = requester.jar[f"app.localhost:{site.port}"]["jitgate_session"]
        # Every instance lets the requester in before the revocation.
        for poller in watch(site, polls, cookie, allowed, lambda s, b: True):
            poller.join(POLL_TIMEOUT)
            assert poller.at is not None, f"port {poller.port} never let {email} in"
        status, listing, _ = admin.send(
            "GET", f"{site.portal}/api/v1/requests?user={urllib.parse.quote(email)}&status=active",
            headers={"Accept": "application/json"})
        request_id = json.loads(listing)["items"][0]["id"]
        pollers = watch(site, polls, cookie, locked, lambda s, b: s == 200)
        sent = time.monotonic()
        status, body, _ = admin.send(
            "POST", f"{site.portal}/api/v1/requests/{request_id}/revoke",
            body=json.dumps({"note": "revoked by the benchmark"}),
            headers={"Accept": "application/json", "Content-Type": "application/json",
                     "X-CSRF-Token": csrf},
        )
        answered = time.monotonic()
        assert status == 200, f"revoking {request_id}: {status} {body}"
        for poller in pollers:
            poller.join(POLL_TIMEOUT)
            poller.stop.set()
            assert poller.at is not None, f"port {poller.port} never locked {email} out"
        last = max(p.at for p in pollers)
        both.append(last - sent)
        responses.append(answered - sent)
        print(f"  round {round_}: revoke answered in {ms(answered - sent)} ms; locked "
              + ", ".join(f"on :{p.port} {ms(p.at - sent)} ms" for p in pollers)
              + " after the revoke was sent", file=sys.stderr)
    print(summary("the admin's revoke request (sent to answered)", responses))
    print(summary(f"revoke sent until every instance ({', '.join(f':{p}' for p in polls)}) "
                  "answers locked", both))


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("figure", choices=["approval", "revoke"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--poll", type=int, action="append", default=[])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    sys.setswitchinterval(0.0005)
    {"approval": approval, "revoke": revoke}[args.figure](args)


if __name__ == "__main__":
    main()
