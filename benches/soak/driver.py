"""The soak benchmark's traffic and report (Python stdlib only).

    driver.py run --public-port P --instance P --instance P2 --duration 30m --warmup 30s \
        --workers 4 --warm-file FILE --out results.json
        Mixed traffic until the time is up: simulated browsers sign in, ask for access
        (sre<i>: approved at once; eng<i>: a reviewer approves it, or now and then denies it,
        through the other instance), make bursts of requests to the app through both
        instances, sometimes sign out; an admin revokes a share of the grants (JSON API or the
        review page's form, through either instance) and requesters end a share themselves.
        After every revocation both instances are polled for PROBE_WINDOW with the requester's
        cookie: a 200 for a request sent more than GRACE after the revocation returned is an
        allowed request after revocation, the figure that must be 0. Writes the counts to
        --out, creates --warm-file when the warm-up ends, exits 1 if any request was allowed
        after a revocation.
    driver.py report --results results.json --samples samples.tsv --log NAME=FILE ... \
        --command CMD --commit C ...
        Prints the Markdown report from the results, the memory samples benches/soak/run took
        and the jitgate logs.

The two instances sit behind one address, as in production behind a load balancer: both are
configured for the hosts app.localhost:P and access.localhost:P (P, the public port, is
instance A's own listen port), and a simulated browser sends each request to the instance it is
routed to (A on P, B on its own port) with the public Host header, so one session cookie is
valid on both. Nothing leaves 127.0.0.1: every *.localhost name resolves to it, and any other
name is refused. Users come from benches/load/lib.sh's users file (sre1..20, eng1..20,
reviewer, admin; one password).
"""

import argparse
import collections
import http.client
import http.cookiejar
import html.parser
import json
import os
import random
import re
import socket
import statistics
import sys
import threading
import time
import urllib.parse
import urllib.request

PASSWORD = "load-bench-password"
USERS = 20  # sre1..20 and eng1..20
TIMEOUT = 10.0  # every request's socket timeout

GRACE = 0.1  # a 200 for a request sent later than this after a revocation returned counts
PROBE_WINDOW = 2.0  # how long both instances are polled after a revocation returned
PROBE_GAP = 0.002  # pause between two polls of one instance
SIGN_OUT_WINDOW = 0.5  # the same after a sign-out, shorter

P_REVOKE = 0.25  # of the cycles that end with a grant: the admin revokes it
P_END = 0.10  # ... the requester ends it on "My access"
P_SIGN_OUT = 0.20  # of the cycles: the user signs out at the end
P_SHORT = 0.15  # of the requests: a grant of 60-120 s (custom duration), to see expiries
P_DENY = 0.10  # of the pending requests: the reviewer denies
P_BAD_PASSWORD = 0.02  # of the cycles: a wrong password for an unknown account first
BURST = (20, 80)  # app requests in a burst, alternating instances
THINK = 0.2  # at most this pause between two cycles of a worker

# --- loopback only ---------------------------------------------------------------------------

_getaddrinfo = socket.getaddrinfo


def _loopback_only(host, port, *args, **kwargs):
    name = (host.decode() if isinstance(host, bytes) else str(host)).rstrip(".").lower()
    if name in ("localhost", "127.0.0.1") or name.endswith(".localhost"):
        return _getaddrinfo("127.0.0.1", port, *args, **kwargs)
    raise socket.gaierror(f"the soak driver talks to 127.0.0.1 only, not to {host!r}")


socket.getaddrinfo = _loopback_only


def seconds(text):
    """30m, 90s, 1h, 1h30m or a plain number of seconds."""
    text = text.strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*(h|m|s)", text)
    if not parts or "".join(n + u for n, u in parts) != text.replace(" ", ""):
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 30m, 90s or 1h")
    return sum(float(n) * {"h": 3600, "m": 60, "s": 1}[u] for n, u in parts)


# --- HTML forms ------------------------------------------------------------------------------


class _Forms(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.forms, self.current = [], None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.current = {"action": a.get("action") or "", "hidden": {}}
            self.forms.append(self.current)
        elif tag == "input" and self.current is not None and a.get("type") == "hidden":
            if a.get("name"):
                self.current["hidden"][a["name"]] = a.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "form":
            self.current = None


def find_form(page, action):
    """The first form whose action matches the regex `action` (fully): its action and every
    hidden field (attribute values unescaped), or None."""
    parser = _Forms()
    parser.feed(page)
    for form in parser.forms:
        if re.fullmatch(action, form["action"]):
            return form
    return None


# --- a browser -------------------------------------------------------------------------------


class Flow(Exception):
    """A step ended somewhere it should not have; counted under its message."""


class _Routed(urllib.request.HTTPHandler):
    """Connects to the instance the browser is routed to; the URL (and so the Host header and
    the cookies) stays the public one."""

    def __init__(self, browser):
        super().__init__()
        self.browser = browser

    def http_open(self, req):
        port = self.browser.instance

        def connect(host, timeout=TIMEOUT, **kwargs):
            return http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)

        return self.do_open(connect, req)


class _Statuses(urllib.request.HTTPErrorProcessor):
    """Hands every status back instead of raising; redirects are followed only if asked."""

    def __init__(self, follow):
        super().__init__()
        self.follow = follow

    def http_response(self, request, response):
        if self.follow and 300 <= response.status < 400:
            return super().http_response(request, response)
        return response


class Browser:
    """One cookie jar, redirects followed like a browser (or not), each request sent to
    `instance`."""

    def __init__(self, instance):
        self.jar = http.cookiejar.CookieJar()
        self.instance = instance
        common = (urllib.request.ProxyHandler({}), urllib.request.HTTPCookieProcessor(self.jar),
                  _Routed(self))
        self.following = urllib.request.build_opener(*common, _Statuses(True))
        self.not_following = urllib.request.build_opener(*common, _Statuses(False))

    def open(self, method, url, fields=None, body=None, headers=None, follow=True,
             instance=None):
        """(status, text, final URL)."""
        if instance is not None:
            self.instance = instance
        if fields is not None:
            body = urllib.parse.urlencode(fields).encode()
        sent = {"Accept": "text/html"}
        sent.update(headers or {})
        request = urllib.request.Request(url, data=body, headers=sent, method=method)
        opener = self.following if follow else self.not_following
        with opener.open(request, timeout=TIMEOUT) as response:
            text = response.read().decode("utf-8", "replace")
            return response.status, text, response.geturl()

    def cookie_header(self, url):
        request = urllib.request.Request(url)
        self.jar.add_cookie_header(request)
        return request.get_header("Cookie") or ""


class AppConnection:
    """A keep-alive connection to one instance for requests to the app with a given cookie."""

    def __init__(self, port, host):
        self.port, self.host, self.connection = port, host, None
        self.reconnects = 0

    def get(self, cookie):
        """(sent, answered, status, body); sent is when the request that answered was sent."""
        for attempt in range(2):
            fresh = self.connection is None
            if fresh:
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port,
                                                             timeout=TIMEOUT)
            sent = time.monotonic()
            try:
                self.connection.request("GET", "/", headers={
                    "Host": self.host, "Cookie": cookie, "Accept": "text/html"})
                response = self.connection.getresponse()
                body = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError,
                    http.client.CannotSendRequest, http.client.BadStatusLine):
                self.close()
                if fresh or attempt:
                    raise
                self.reconnects += 1  # the server closed an idle keep-alive connection
                continue
            answered = time.monotonic()
            if response.will_close:
                self.close()
            return sent, answered, response.status, body.decode("utf-8", "replace")
        raise AssertionError("unreachable")

    def close(self):
        if self.connection is not None:
            self.connection.close()
            self.connection = None


# --- shared state ----------------------------------------------------------------------------


class Stats:
    def __init__(self, ports, events):
        self.lock = threading.Lock()
        self.events = open(events, "a", buffering=1) if events else None
        self.counts = collections.Counter()
        self.statuses = collections.Counter()  # "where: status" for answers that should not be
        self.timings = collections.defaultdict(list)
        self.app_latency = collections.defaultdict(list)  # minute after the warm-up -> seconds
        self.errors = collections.Counter()
        self.error_samples = []
        self.probe = {p: collections.Counter() for p in ports}
        self.probe_max_last_200 = {p: None for p in ports}  # seconds after the return
        self.lock_latency = {p: [] for p in ports}  # revocation sent -> first locked answer
        self.lock_latency_role = {"the revoking instance": [], "the other instance": []}
        self.late_samples = []

    def count(self, key, n=1):
        with self.lock:
            self.counts[key] += n

    def status(self, where, status, sent=None):
        """An unexpected status; `sent`: when its request was sent (monotonic), if not now."""
        with self.lock:
            self.statuses[f"{where}: {status}"] += 1
        ago = time.monotonic() - sent if sent is not None else 0.0
        self.event("status", where=where, status=status, sent=f"{time.time() - ago:.6f}")

    def event(self, kind, **fields):
        """A line in the events file (wall-clock times), to set beside the jitgate logs."""
        if self.events is not None:
            line = json.dumps(dict(at=f"{time.time():.6f}", event=kind, **fields))
            with self.lock:
                self.events.write(line + "\n")

    def time(self, key, value):
        with self.lock:
            self.timings[key].append(value)

    def error(self, where, error):
        kind = f"{where}: {type(error).__name__}"
        with self.lock:
            self.errors[kind] += 1
            if len(self.error_samples) < 30:
                self.error_samples.append(f"{time.strftime('%H:%M:%S')} {kind}: {error}")
        self.event("error", where=kind, error=str(error))


class User:
    def __init__(self, email, sre, port):
        self.email, self.sre = email, sre
        self.reset(port)

    def reset(self, port):
        """A fresh browser: no cookies, nothing known about grants."""
        self.browser = Browser(port)
        self.expires = None  # (earliest, latest) monotonic expiry of the current grant
        self.duration = None  # the duration asked for in a pending request


class Site:
    def __init__(self, args):
        self.public = args.public_port
        self.ports = args.instance
        self.app = f"http://app.localhost:{self.public}/"
        self.app_host = f"app.localhost:{self.public}"
        self.portal = f"http://access.localhost:{self.public}"
        self.body = args.upstream_body
        self.start = time.monotonic()
        self.warm_end = self.start + args.warmup
        self.deadline = self.warm_end + args.duration

    def over(self):
        return time.monotonic() >= self.deadline

    def other(self, port):
        return next(p for p in self.ports if p != port)

    def name(self, port):
        return "AB"[self.ports.index(port)]

    def where(self, status, page, url):
        """Where a browser landed: app, sign-in, form, waiting, denied or other."""
        parts = urllib.parse.urlsplit(url)
        if url.split("?")[0] == self.app and status == 200 and self.body in page:
            return "app"
        if parts.netloc != urllib.parse.urlsplit(self.portal).netloc:
            return "other"
        if parts.path == "/auth/sign-in" and status == 200:
            return "sign-in"
        if parts.path == "/request/app" and status == 200:
            return "form"
        if parts.path.startswith("/requests/") and status == 200:
            return "denied" if "Request denied" in page else "waiting"
        return "other"


class Pool:
    """The requesters, each used by one worker at a time."""

    def __init__(self, users):
        self.free = list(users)
        self.cond = threading.Condition()

    def take(self, site):
        with self.cond:
            while not self.free:
                if site.over():
                    return None
                self.cond.wait(0.5)
            return self.free.pop(random.randrange(len(self.free)))

    def give(self, user):
        with self.cond:
            self.free.append(user)
            self.cond.notify()


# --- after a revocation ----------------------------------------------------------------------


class Watcher:
    """Polls the app through one instance with one cookie on a keep-alive connection opened
    before the change (as an open browser tab's would be), from before the change is sent
    until `until` is set and passed."""

    def __init__(self, site, port, cookie):
        self.port, self.cookie = port, cookie
        self.app = AppConnection(port, site.app_host)
        self.answers = []  # (sent, answered, status)
        self.failures = 0
        self.until = None
        self.thread = threading.Thread(target=self.poll, daemon=True)

    def once(self):
        sent, answered, status, _ = self.app.get(self.cookie)
        return sent, answered, status

    def poll(self):
        cap = time.monotonic() + 60  # whatever happens to the caller
        while time.monotonic() < (self.until or cap):
            try:
                self.answers.append(self.once())
            except (OSError, http.client.HTTPException):
                self.failures += 1
                self.app.close()
            time.sleep(PROBE_GAP)
        self.app.close()


def locks(status):
    """Whether an answer to the app is jitgate's "no": a redirect to the portal (a browser's
    Accept), 401 or 403. A 5xx is not, it is counted as unexpected."""
    return 300 <= status < 400 or status in (401, 403)


def watch(watchers, until):
    """Lets the watchers poll until `until`, then waits for them."""
    for watcher in watchers:
        watcher.until = until
    for watcher in watchers:
        watcher.thread.join(max(0.0, until - time.monotonic()) + 2 * TIMEOUT)


# --- one worker ------------------------------------------------------------------------------


class Worker(threading.Thread):
    def __init__(self, site, stats, pool):
        super().__init__(daemon=True)
        self.site, self.stats, self.pool = site, stats, pool
        self.apps = {p: AppConnection(p, site.app_host) for p in site.ports}
        self.staff = {}  # "reviewer"/"admin" -> (browser, form csrf, API csrf)

    def run(self):
        while not self.site.over():
            user = self.pool.take(self.site)
            if user is None:
                break
            try:
                if random.random() < P_BAD_PASSWORD:
                    self.bad_password()
                self.cycle(user)
            except Flow as flow:
                self.stats.count(f"unexpected: {flow}")
                user.reset(random.choice(self.site.ports))
            except Exception as error:  # noqa: BLE001 - counted, and the soak goes on
                self.stats.error("cycle", error)
                user.reset(random.choice(self.site.ports))
            finally:
                self.pool.give(user)
            time.sleep(random.uniform(0, THINK))
        for app in self.apps.values():
            app.close()

    # --- the requester's path -------------------------------------------------------------

    def cycle(self, user):
        site, stats = self.site, self.stats
        port = random.choice(site.ports)
        browser = user.browser
        status, page, url = browser.open("GET", site.app, instance=port)
        where = site.where(status, page, url)
        if where == "sign-in":
            where, status, page, url = self.sign_in(user, port, page, url)
        if where == "app":
            stats.count("visits to the app with a grant already held")
        elif where == "form":
            where, status, page, url = self.ask(user, port, page, url)
        if where == "waiting":
            if not self.review(user, url):
                return
            sent = time.monotonic()
            status, page, url = browser.open("GET", url, instance=port)  # the page moves on
            stats.time("approved request's waiting page to the app", time.monotonic() - sent)
            where = site.where(status, page, url)
        if where != "app":
            stats.status(f"the way into the app ended at {urllib.parse.urlsplit(url).path}",
                         status)
            raise Flow(f"ended at {where} ({status})")
        self.burst(user)
        if site.over():
            return
        left = user.expires[0] - time.monotonic() if user.expires else 3600
        choice = random.random()
        if left > 15 and choice < P_REVOKE:
            self.revoke(user)
        elif left > 15 and choice < P_REVOKE + P_END:
            self.end(user)
        if random.random() < P_SIGN_OUT and not site.over():
            self.sign_out(user, held=left > 15 and choice >= P_REVOKE + P_END)

    def sign_in(self, user, port, page, url):
        form = find_form(page, r"/auth/sign-in")
        if form is None:
            raise Flow("no sign-in form")
        fields = dict(form["hidden"], email=user.email, password=PASSWORD)
        sent = time.monotonic()
        status, page, url = user.browser.open(
            "POST", urllib.parse.urljoin(url, form["action"]), fields, instance=port)
        self.stats.time("sign-in (form posted to landing)", time.monotonic() - sent)
        self.stats.count("sign-ins (requesters)")
        return self.site.where(status, page, url), status, page, url

    def ask(self, user, port, page, url):
        form = find_form(page, r"/request/app")
        if form is None:
            raise Flow("no request form")
        duration = 3600
        fields = dict(form["hidden"], duration="3600", reason="soak")
        if random.random() < P_SHORT:
            duration = random.randint(60, 120)
            fields.update(duration="custom", custom=f"{duration}s")
        sent = time.monotonic()
        status, page, url = user.browser.open(
            "POST", urllib.parse.urljoin(url, form["action"]), fields, instance=port)
        answered = time.monotonic()
        where = self.site.where(status, page, url)
        if where == "app":
            user.expires = (sent + duration, answered + duration)
            self.stats.count("access requests: approved at once (sre)")
            self.stats.time("request to the app, approved at once", answered - sent)
            if duration < 3600:
                self.stats.count("short grants (60-120 s)")
        elif where == "waiting":
            user.duration = duration
            self.stats.count("access requests: pending (engineering)")
        return where, status, page, url

    def burst(self, user):
        site, stats = self.site, self.stats
        cookie = user.browser.cookie_header(site.app)
        first = random.randrange(2)
        for i in range(random.randint(*BURST)):
            if site.over():
                return
            port = site.ports[(first + i) % 2]
            try:
                sent, answered, status, body = self.apps[port].get(cookie)
            except (OSError, http.client.HTTPException) as error:
                stats.error(f"app request ({site.name(port)})", error)
                self.apps[port].close()
                continue
            minute = int((sent - site.warm_end) // 60) if sent >= site.warm_end else -1
            with stats.lock:
                stats.app_latency[minute].append(answered - sent)
            if status == 200 and site.body in body:
                stats.count("app requests: 200")
                if user.expires and sent > user.expires[1] + GRACE:
                    stats.count("app requests: 200 after the grant expired")
            elif user.expires and sent >= user.expires[0] - 0.05:
                stats.count("app requests: locked, the grant had just expired")
                user.expires = None
                return
            else:
                stats.status(f"app request ({site.name(port)})", status)

    # --- reviewer and admin ---------------------------------------------------------------

    def staff_browser(self, role, port, fresh=False):
        """A signed-in reviewer@ or admin@ browser of this worker: (browser, form csrf, API
        csrf)."""
        if fresh or role not in self.staff:
            browser = Browser(port)
            portal = self.site.portal
            status, page, url = browser.open("GET", f"{portal}/auth/sign-in", instance=port)
            form = find_form(page, r"/auth/sign-in")
            if form is None:
                raise Flow(f"{role}: no sign-in form ({status})")
            fields = dict(form["hidden"], email=f"{role}@example.com", password=PASSWORD)
            status, page, url = browser.open(
                "POST", urllib.parse.urljoin(url, form["action"]), fields, instance=port)
            form = find_form(page, r"/auth/sign-out")
            if status != 200 or form is None:
                raise Flow(f"{role}: signing in ended at {url} ({status})")
            status, me, _ = browser.open("GET", f"{portal}/api/v1/me",
                                         headers={"Accept": "application/json"}, instance=port)
            if status != 200:
                raise Flow(f"{role}: /api/v1/me answered {status}")
            self.staff[role] = (browser, form["hidden"]["csrf"], json.loads(me)["csrf_token"])
            self.stats.count("sign-ins (reviewer, admin)")
        browser, csrf, api_csrf = self.staff[role]
        browser.instance = port
        return browser, csrf, api_csrf

    def review(self, user, waiting_url):
        """The reviewer decides the pending request through the instance the requester is not
        on. True if approved."""
        site, stats = self.site, self.stats
        request_id = urllib.parse.urlsplit(waiting_url).path.rsplit("/", 1)[1]
        port = site.other(user.browser.instance)
        deny = random.random() < P_DENY
        action = "deny" if deny else "approve"
        for attempt in range(2):
            reviewer, csrf, _ = self.staff_browser("reviewer", port, fresh=attempt > 0)
            sent = time.monotonic()
            status, page, url = reviewer.open(
                "POST", f"{site.portal}/review/{request_id}/{action}",
                {"csrf": csrf, "duration": "", "note": "soak", "back": "/review"})
            answered = time.monotonic()
            if status == 200 and urllib.parse.urlsplit(url).path == "/review":
                break
            stats.status(f"{action} (review page)", status)
        else:
            raise Flow(f"{action} failed")
        stats.time(f"{action}, with the dashboard it returns to", answered - sent)
        if deny:
            stats.count("denials (reviewer, through the other instance)")
            status, page, url = user.browser.open("GET", waiting_url)
            if site.where(status, page, url) != "denied":
                stats.status("denied request's page", status)
            return False
        stats.count("approvals (reviewer, through the other instance)")
        duration = user.duration or 3600
        user.expires = (sent + duration, answered + duration)
        if duration < 3600:
            stats.count("short grants (60-120 s)")
        return True

    def revoke(self, user):
        """The admin revokes the user's grant through either instance, by the JSON API or the
        review page's form, while both instances are watched."""
        site, stats = self.site, self.stats
        port = random.choice(site.ports)
        admin, csrf, api_csrf = self.staff_browser("admin", port)
        query = urllib.parse.urlencode({"user": user.email, "status": "active"})
        status, listing, _ = admin.open("GET", f"{site.portal}/api/v1/requests?{query}",
                                        headers={"Accept": "application/json"})
        items = json.loads(listing).get("items", []) if status == 200 else []
        if not items:
            stats.status("admin: the active grant to revoke (none listed)", status)
            return
        request_id = items[0]["id"]
        by_api = random.random() < 0.5
        if by_api:
            how = "revocations by the admin: JSON API"

            def act():
                return admin.open(
                    "POST", f"{site.portal}/api/v1/requests/{request_id}/revoke",
                    body=b'{"note": "soak"}', follow=False,
                    headers={"Accept": "application/json", "Content-Type": "application/json",
                             "X-CSRF-Token": api_csrf})
        else:
            how = "revocations by the admin: review page form"

            def act():
                return admin.open(
                    "POST", f"{site.portal}/review/{request_id}/revoke",
                    {"csrf": csrf, "note": "soak", "back": "/review"}, follow=False)
        self.watched_change(user, port, how, act, expect=200 if by_api else 303)

    def end(self, user):
        """The requester ends their own grant on "My access", while both instances are
        watched."""
        site = self.site
        port = random.choice(site.ports)
        status, page, url = user.browser.open("GET", f"{site.portal}/", instance=port)
        form = find_form(page, r"/requests/[^/]+/end")
        if form is None:
            self.stats.status("my access: no end button", status)
            return

        def act():
            return user.browser.open("POST", urllib.parse.urljoin(url, form["action"]),
                                     form["hidden"], follow=False)
        self.watched_change(user, port, "grants ended by the requester", act, expect=303)

    def watched_change(self, user, port, how, act, expect):
        """Sends a revocation (`act`, through `port`) while both instances are polled with the
        requester's cookie, from just before it until PROBE_WINDOW after it returned."""
        site, stats = self.site, self.stats
        cookie = user.browser.cookie_header(site.app)
        watchers = [Watcher(site, p, cookie) for p in site.ports]
        for watcher in watchers:  # open the connections; both let the requester in
            try:
                _, _, status = watcher.once()
            except (OSError, http.client.HTTPException) as error:
                stats.error(f"before a revocation ({site.name(watcher.port)})", error)
                status = None
            if status != 200:
                if status is not None:
                    stats.status(f"before a revocation ({site.name(watcher.port)})", status)
                for each in watchers:
                    each.app.close()
                return
        for watcher in watchers:
            watcher.thread.start()
        time.sleep(0.02)  # polling by the time the revocation goes out
        sent = time.monotonic()
        try:
            status, _, _ = act()
        except Exception:
            watch(watchers, time.monotonic())
            raise
        returned = time.monotonic()
        stats.time(f"{how} (sent to answered)", returned - sent)
        if status != expect:
            watch(watchers, time.monotonic())
            stats.status(how, status)
            return
        stats.count(how)
        stats.event("revocation", how=how, via=site.name(port), user=user.email,
                    sent=f"{time.time() - (time.monotonic() - sent):.6f}",
                    took=round(returned - sent, 6))
        user.expires = None
        watch(watchers, returned + PROBE_WINDOW)
        stats.count("app requests polling around revocations (both instances)",
                    sum(len(w.answers) for w in watchers))
        for watcher in watchers:
            p = watcher.port
            role = "the revoking instance" if p == port else "the other instance"
            after = [a for a in watcher.answers if a[0] >= sent]  # sent after the revocation
            allowed = [a for a in after if a[2] == 200]
            locked = [a for a in after if locks(a[2])]
            for a in watcher.answers:
                if a[2] != 200 and not locks(a[2]):
                    stats.status(f"polling around a revocation ({site.name(p)})", a[2], a[0])
            late = [a for a in allowed if a[0] > returned + GRACE]
            now_wall, now = time.time(), time.monotonic()
            for a in allowed:
                if a[1] > returned:
                    stats.event("200 answered after the revocation returned", user=user.email,
                                via=site.name(port), instance=site.name(p),
                                sent=f"{now_wall - (now - a[0]):.6f}",
                                answered=f"{now_wall - (now - a[1]):.6f}",
                                after_sent=round(a[0] - sent, 6),
                                after_returned=round(a[1] - returned, 6))
            with stats.lock:
                counter = stats.probe[p]
                counter["revocations watched"] += 1
                counter["requests sent after the revocation was sent"] += len(after)
                counter["200 answered after the revocation returned"] += sum(
                    1 for a in allowed if a[1] > returned)
                counter["200 sent > GRACE after the revocation returned"] += len(late)
                counter["locked before the revocation was sent"] += sum(
                    1 for a in watcher.answers if a[0] < sent and locks(a[2]))
                counter["connection failures"] += watcher.failures
                if allowed:
                    delay = max(a[1] for a in allowed) - sent
                    worst = stats.probe_max_last_200[p]
                    stats.probe_max_last_200[p] = delay if worst is None else max(worst, delay)
                if locked:
                    latency = min(a[1] for a in locked) - sent
                    stats.lock_latency[p].append(latency)
                    stats.lock_latency_role[role].append(latency)
                else:
                    counter["never locked in the window"] += 1
                for a in late[:3]:
                    if len(stats.late_samples) < 20:
                        stats.late_samples.append(
                            f"{how} through {site.name(port)}: {user.email} let in by "
                            f"{site.name(p)}, request sent {a[0] - returned:.3f} s after the "
                            f"revocation returned")

    def sign_out(self, user, held):
        """Signs out through either instance; with a grant still held, both instances are
        watched for a while: the session is gone, so the app must not let the cookie in."""
        site, stats = self.site, self.stats
        port = random.choice(site.ports)
        status, page, url = user.browser.open("GET", f"{site.portal}/", instance=port)
        form = find_form(page, r"/auth/sign-out")
        if form is None:
            stats.status("my access: no sign-out button", status)
            return
        cookie = user.browser.cookie_header(site.app)
        sent = time.monotonic()
        status, page, _ = user.browser.open(
            "POST", urllib.parse.urljoin(url, form["action"]), form["hidden"])
        returned = time.monotonic()
        stats.time("sign-out", returned - sent)
        if status != 200:
            stats.status("sign-out", status)
            return
        stats.count("sign-outs")
        if not held:
            return
        watchers = [Watcher(site, p, cookie) for p in site.ports]
        for watcher in watchers:
            watcher.thread.start()
        watch(watchers, time.monotonic() + SIGN_OUT_WINDOW)
        late = sum(1 for w in watchers for a in w.answers
                   if a[2] == 200 and a[0] > returned + GRACE)
        for watcher in watchers:
            for a in watcher.answers:
                if a[2] != 200 and not locks(a[2]):
                    stats.status(f"polling after a sign-out ({site.name(watcher.port)})", a[2],
                                 a[0])
        stats.count("sign-outs watched (a grant still held)")
        stats.count("app requests polling after sign-outs (both instances)",
                    sum(len(w.answers) for w in watchers))
        stats.count("200 sent > GRACE after a sign-out returned", late)

    def bad_password(self):
        """A wrong password for an account that does not exist (a throttle entry each)."""
        site = self.site
        port = random.choice(site.ports)
        browser = Browser(port)
        status, page, url = browser.open("GET", f"{site.portal}/auth/sign-in")
        form = find_form(page, r"/auth/sign-in")
        if form is None:
            raise Flow("no sign-in form for the wrong password")
        fields = dict(form["hidden"], email=f"nobody-{random.getrandbits(48):x}@example.com",
                      password="wrong")
        status, page, url = browser.open("POST", urllib.parse.urljoin(url, form["action"]),
                                         fields)
        self.stats.count("sign-ins refused (wrong password, unknown account)")
        if status not in (200, 401, 403):
            self.stats.status("sign-in with a wrong password", status)


# --- run -------------------------------------------------------------------------------------


def run(args):
    random.seed(args.seed)
    site = Site(args)
    stats = Stats(site.ports, args.events)
    users = [User(f"sre{i}@example.com", True, random.choice(site.ports))
             for i in range(1, USERS + 1)]
    users += [User(f"eng{i}@example.com", False, random.choice(site.ports))
              for i in range(1, USERS + 1)]
    pool = Pool(users)
    workers = [Worker(site, stats, pool) for _ in range(args.workers)]
    for worker in workers:
        worker.start()
    warm_marked = False
    next_progress = site.start + 60
    while any(w.is_alive() for w in workers):
        now = time.monotonic()
        if not warm_marked and now >= site.warm_end:
            with open(args.warm_file, "w") as marker:
                marker.write(f"{time.time()}\n")
            warm_marked = True
            print(f"[soak] warm-up over; {fmt_seconds(args.duration)} of traffic follow",
                  file=sys.stderr)
        if now >= next_progress:
            next_progress += 60
            with stats.lock:
                c = stats.counts
                late = sum(p["200 sent > GRACE after the revocation returned"]
                           for p in stats.probe.values())
                print(f"[soak] {fmt_seconds(now - site.start)}: {c['app requests: 200']} app "
                      f"requests allowed, {c['sign-ins (requesters)']} sign-ins, "
                      f"{sum(v for k, v in c.items() if k.startswith('revocations'))} "
                      f"revocations, {late} allowed after a revocation, "
                      f"{sum(stats.errors.values())} errors", file=sys.stderr)
        if now > site.deadline + PROBE_WINDOW + 3 * TIMEOUT + 30:
            stats.error("driver", RuntimeError("a worker did not stop in time"))
            break
        time.sleep(0.2)
    if not warm_marked:  # a run shorter than its warm-up
        with open(args.warm_file, "w") as marker:
            marker.write(f"{time.time()}\n")
    elapsed = time.monotonic() - site.start
    late = sum(p["200 sent > GRACE after the revocation returned"] for p in stats.probe.values())
    results = {
        "seed": args.seed,
        "workers": args.workers,
        "duration": args.duration,
        "warmup": args.warmup,
        "elapsed": elapsed,
        "ports": site.ports,
        "grace": GRACE,
        "probe_window": PROBE_WINDOW,
        "counts": dict(stats.counts),
        "statuses": dict(stats.statuses),
        "errors": dict(stats.errors),
        "error_samples": stats.error_samples,
        "timings": {k: summary(v) for k, v in stats.timings.items()},
        "app_latency": {str(k): summary(v) for k, v in sorted(stats.app_latency.items())},
        "probe": {str(p): dict(c) for p, c in stats.probe.items()},
        "probe_max_last_200": {str(p): v for p, v in stats.probe_max_last_200.items()},
        "lock_latency": {str(p): summary(v) for p, v in stats.lock_latency.items()},
        "lock_latency_role": {k: summary(v) for k, v in stats.lock_latency_role.items()},
        "late_samples": stats.late_samples,
        "allowed_after_revocation": late,
    }
    with open(args.out, "w") as out:
        json.dump(results, out, indent=1)
    for line in stats.late_samples:
        print(f"[soak] ALLOWED AFTER REVOCATION: {line}", file=sys.stderr)
    return 1 if late else 0


def summary(values):
    if not values:
        return {"n": 0}
    ordered = sorted(values)
    return {
        "n": len(ordered),
        "median": statistics.median(ordered),
        "p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
        "max": ordered[-1],
    }


def fmt_seconds(value):
    value = int(round(value))
    return f"{value // 60}m{value % 60:02d}s" if value >= 60 else f"{value}s"


# --- report ----------------------------------------------------------------------------------


def mib(kib):
    return f"{int(kib) / 1024:.1f} MiB"


def ms(value):
    return f"{value * 1000:.1f}" if value is not None else "-"


def signed(value, unit):
    return f"{'+' if value >= 0 else ''}{value:.1f} {unit}"


def read_samples(path):
    rows = []
    with open(path) as samples:
        for line in samples:
            label, at, rss_a, rss_b, used, keys, kinds = line.rstrip("\n").split("\t")
            rows.append({"label": label, "at": float(at), "rss": [int(rss_a), int(rss_b)],
                         "used": int(used), "keys": int(keys), "kinds": kinds})
    return rows


def log_lines(path):
    """(warnings, errors, the most frequent messages) of a jitgate log (RUST_LOG=warn)."""
    levels = collections.Counter()
    messages = collections.Counter()
    ansi = re.compile(r"\x1b\[[0-9;]*m")
    try:
        with open(path, errors="replace") as log:
            for raw in log:
                line = ansi.sub("", raw).strip()
                match = re.search(r"\b(WARN|ERROR)\b\s+(.*)", line)
                if not match:
                    continue
                levels[match.group(1)] += 1
                # Ports, ids and paths vary: group the messages without them.
                text = re.sub(r"context: Peer: addr: [^,]*, scheme: [^,]*, sni: \S+ cause:\s+",
                              "", match.group(2))
                text = re.sub(r"\d{4,}", "N", re.sub(r"/tmp/\S+/", ".../", text))[:240]
                messages[f"{match.group(1)} {text}"] += 1
    except FileNotFoundError:
        pass
    return levels, messages


def read_metrics(path):
    """Prometheus text: {"name{labels}": value}."""
    values = {}
    try:
        with open(path) as text:
            for line in text:
                if line.startswith("#") or not line.strip():
                    continue
                key, _, value = line.rstrip().rpartition(" ")
                try:
                    values[key] = float(value)
                except ValueError:
                    pass
    except FileNotFoundError:
        pass
    return values


def report(args):
    with open(args.results) as results_file:
        r = json.load(results_file)
    samples = read_samples(args.samples)
    start = next(s for s in samples if s["label"] == "start")
    end = next(s for s in samples if s["label"] == "end")
    series = [s for s in samples if s["label"] in ("start", "sample", "end")]
    ports = [int(p) for p in r["ports"]]
    c = collections.Counter(r["counts"])
    out = []
    p = out.append
    p(f"{args.date}, {args.cpus} CPUs ({args.cpu_model}), commit {args.commit}; load average "
      f"{args.load_before} before, {args.load_after} after.")
    p(f"`{args.command}`: {fmt_seconds(r['duration'])} of mixed traffic after a "
      f"{fmt_seconds(r['warmup'])} warm-up ({fmt_seconds(r['elapsed'])} in all), "
      f"{r['workers']} workers, seed {r['seed']}; two `jitgate serve` (--role all) on one "
      f"redis-server, A on :{ports[0]} and B on :{ports[1]} behind the public address "
      f":{ports[0]}; {args.threads} threads each, PIN={args.pin}.")
    p("")
    p("**Memory** (start: after the warm-up; end: when the traffic stopped; max: of the samples "
      f"every {args.sample_every} s in between):")
    p("")
    p("| | start | end | change | max sampled |")
    p("|---|---:|---:|---:|---:|")
    for i, name in enumerate("AB"):
        peak = max(s["rss"][i] for s in series)
        p(f"| jitgate {name} VmRSS | {mib(start['rss'][i])} | {mib(end['rss'][i])} | "
          f"{signed((end['rss'][i] - start['rss'][i]) / 1024, 'MiB')} | {mib(peak)} |")
    peak = max(s["used"] for s in series)
    p(f"| Redis used_memory | {start['used'] / 2**20:.1f} MiB | {end['used'] / 2**20:.1f} MiB | "
      f"{signed((end['used'] - start['used']) / 2**20, 'MiB')} | {peak / 2**20:.1f} MiB |")
    p(f"| Redis DBSIZE (keys) | {start['keys']} | {end['keys']} | "
      f"{'+' if end['keys'] >= start['keys'] else ''}{end['keys'] - start['keys']} | "
      f"{max(s['keys'] for s in series)} |")
    p("")
    p(f"Peak RSS (VmHWM) at the end: A {mib(args.hwm[0])}, B {mib(args.hwm[1])}. Redis keys by "
      f"kind, start: {start['kinds']}; end: {end['kinds']}.")
    p("")
    late = r["allowed_after_revocation"]
    p(f"**Requests allowed after a revocation: {late}** (a 200 for a request sent more than "
      f"{r['grace'] * 1000:.0f} ms after the revocation returned). Both instances are polled "
      f"with the requester's cookie, each on a keep-alive connection opened before the "
      f"revocation, from just before it is sent until {r['probe_window']:.0f} s after it "
      f"returned; times from sending it:")
    p("")
    p("| instance | revocations | requests sent after it | 200s answered after it returned "
      "| 200s sent > 100 ms after it returned | last 200, max ms | first locked answer, median "
      "/ p99 / max ms |")
    p("|---|---:|---:|---:|---:|---:|---:|")
    for i, port in enumerate(ports):
        probe = collections.Counter(r["probe"][str(port)])
        lock = r["lock_latency"][str(port)]
        lock_text = (f"{ms(lock['median'])} / {ms(lock['p99'])} / {ms(lock['max'])}"
                     if lock["n"] else "-")
        p(f"| {'AB'[i]} (:{port}) | {probe['revocations watched']} | "
          f"{probe['requests sent after the revocation was sent']} | "
          f"{probe['200 answered after the revocation returned']} | "
          f"{probe['200 sent > GRACE after the revocation returned']} | "
          f"{ms(r['probe_max_last_200'][str(port)])} | {lock_text} |")
    roles = r["lock_latency_role"]
    p("")
    p("First locked answer by role: " + "; ".join(
        f"{role} median {ms(v['median'])} ms, max {ms(v['max'])} ms (n={v['n']})"
        for role, v in roles.items() if v["n"]) + ".")
    never = sum(collections.Counter(v).get("never locked in the window", 0)
                for v in r["probe"].values())
    failures = sum(collections.Counter(v).get("connection failures", 0)
                   for v in r["probe"].values())
    early = sum(collections.Counter(v).get("locked before the revocation was sent", 0)
                for v in r["probe"].values())
    if never or failures or early:
        p(f"Never locked within the window: {never}; locked before the revocation was sent: "
          f"{early}; polling connection failures: {failures}.")
    p("")
    p("**Traffic** (counts include the warm-up):")
    p("")
    p("| | count |")
    p("|---|---:|")
    order = [
        "sign-ins (requesters)", "sign-ins (reviewer, admin)",
        "sign-ins refused (wrong password, unknown account)",
        "access requests: approved at once (sre)", "access requests: pending (engineering)",
        "approvals (reviewer, through the other instance)",
        "denials (reviewer, through the other instance)", "short grants (60-120 s)",
        "visits to the app with a grant already held", "app requests: 200",
        "app requests: locked, the grant had just expired",
        "app requests: 200 after the grant expired",
        "revocations by the admin: JSON API", "revocations by the admin: review page form",
        "grants ended by the requester",
        "app requests polling around revocations (both instances)",
        "sign-outs", "sign-outs watched (a grant still held)",
        "app requests polling after sign-outs (both instances)",
        "200 sent > GRACE after a sign-out returned",
    ]
    for key in order + sorted(k for k in c if k not in order):
        label = key.replace("GRACE", f"{r['grace'] * 1000:.0f} ms")
        p(f"| {label} | {c.get(key, 0)} |")
    statuses = r["statuses"]
    p(f"| unexpected statuses | {sum(statuses.values())} |")
    p(f"| errors (exceptions in the driver) | {sum(r['errors'].values())} |")
    if statuses:
        p("")
        p("Unexpected statuses: " + "; ".join(f"{k} ×{v}" for k, v in sorted(statuses.items()))
          + ".")
    if r["errors"]:
        p("")
        p("Errors: " + "; ".join(f"{k} ×{v}" for k, v in sorted(r["errors"].items())) + ".")
    p("")
    p("**Latency** (ms, median / p99 / max, the driver's clock, client included):")
    p("")
    p("| | n | median | p99 | max |")
    p("|---|---:|---:|---:|---:|")
    minutes = {int(k): v for k, v in r["app_latency"].items() if int(k) >= 0 and v["n"]}
    if minutes:
        first, last = min(minutes), max(minutes)
        for minute in sorted({first, last}):
            v = minutes[minute]
            p(f"| app request, minute {minute + 1} after the warm-up | {v['n']} | "
              f"{ms(v['median'])} | {ms(v['p99'])} | {ms(v['max'])} |")
    for key, v in sorted(r["timings"].items()):
        if v["n"]:
            p(f"| {key} | {v['n']} | {ms(v['median'])} | {ms(v['p99'])} | {ms(v['max'])} |")
    p("")
    logs = []
    for spec in args.log:
        name, _, path = spec.partition("=")
        levels, messages = log_lines(path)
        logs.append((name, levels, messages))
    p("**jitgate logs** (RUST_LOG=warn): " + "; ".join(
        f"{name}: {levels['WARN']} warnings, {levels['ERROR']} errors"
        for name, levels, _ in logs) + ".")
    for name, _, messages in logs:
        for message, n in messages.most_common(5):
            p(f"- {name}, ×{n}: `{message}`")
    metrics = []
    for spec in args.metrics:
        name, _, path = spec.partition("=")
        metrics.append((name, read_metrics(path)))
    if metrics:
        keys = sorted({k for _, m in metrics for k in m if k.startswith(
            ("jitgate_requests_total", "jitgate_cache_lookups_total"))})
        names = " / ".join(name for name, _ in metrics)
        p("")
        p(f"jitgate's own counters at the end ({names}): " + "; ".join(
            f"{k.replace('jitgate_', '')} " + " / ".join(str(int(m.get(k, 0))) for _, m in metrics)
            for k in keys) + ".")
    if args.alive:
        p("")
        p(args.alive)
    print("\n".join(out))
    return 1 if late else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    go = sub.add_parser("run")
    go.add_argument("--public-port", type=int, required=True)
    go.add_argument("--instance", type=int, action="append", required=True)
    go.add_argument("--duration", type=seconds, default=seconds("30m"))
    go.add_argument("--warmup", type=seconds, default=seconds("30s"))
    go.add_argument("--workers", type=int, default=4)
    go.add_argument("--seed", type=int, default=int.from_bytes(os.urandom(4), "big"))
    go.add_argument("--upstream-body", default="hello from the upstream")
    go.add_argument("--warm-file", required=True)
    go.add_argument("--out", required=True)
    go.add_argument("--events", help="a JSON line per revocation, unexpected status, error")
    rep = sub.add_parser("report")
    rep.add_argument("--results", required=True)
    rep.add_argument("--samples", required=True)
    rep.add_argument("--log", action="append", default=[], help="NAME=FILE")
    rep.add_argument("--metrics", action="append", default=[], help="NAME=FILE")
    rep.add_argument("--hwm", type=int, nargs=2, default=[0, 0])
    for name in ("command", "commit", "date", "cpus", "cpu-model", "load-before", "load-after",
                 "threads", "pin", "sample-every", "alive"):
        rep.add_argument(f"--{name}", default="")
    args = parser.parse_args()
    if args.command == "run":
        if len(args.instance) != 2:
            parser.error("give exactly two --instance ports")
        return run(args)
    return report(args)


if __name__ == "__main__":
    sys.exit(main())
