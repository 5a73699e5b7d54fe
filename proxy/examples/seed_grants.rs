//! Fills a jitgate store with many signed-in users holding active grants, and makes a running
//! jitgate hold them: the memory figure of the load benchmark (`benches/load/figures`).
//!
//! ```sh
//! # N sessions, each with an auto-approved grant on the resource, made by the same state
//! # machine (`transition::open`) and store commit the portal's workflow uses; one session
//! # cookie per line (for the resource's host) to FILE.
//! seed_grants seed --config jitgate.toml --count N --cookies FILE [--group G] [--resource R]
//! # One request per cookie through the proxy at ADDR (keep-alive connections); every answer
//! # must be the upstream's 200.
//! seed_grants touch --addr 127.0.0.1:8080 --host app.localhost:8080 --cookies FILE
//! ```
//!
//! The proxy caches a session and a grant the first time a request presents them (see
//! `AccessCache`), so "held" means: seeded in the store, then requested once each.
//!
//! Seeding skips one step of `AccessService::request_access`: its check for an open request
//! by the same user, which lists the user's pending requests. The users are new, so there is
//! none, and in the embedded store that query scans every request for the resource (SQLite
//! picks the resource index), which makes seeding 100 000 requests quadratic.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use jitgate_access::clock::{Clock, SystemClock};
use jitgate_access::config::StoreConfig;
use jitgate_access::ids::{GroupName, IdGenerator, RequestId, ResourceName, UserId};
use jitgate_access::policy::{Access, Identity};
use jitgate_access::request::Status;
const SESSION_COOKIE: &str = "jitgate_session";
use jitgate_access::session::{Session, SessionId};
use jitgate_access::store::{EmbeddedStore, RedisStore, Store};
use jitgate_access::token::TokenKeys;
use jitgate_access::transition::{self, Context, NewRequest};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Concurrent requests while seeding: the store serialises writes anyway.
const SEED_TASKS: usize = 16;
/// How long each seeded grant lasts.
const GRANT: Duration = Duration::from_secs(3600);

struct Args(Vec<String>);

impl Args {
    fn get(&self, flag: &str) -> Option<&str> {
        let at = self.0.iter().position(|a| a == flag)?;
        self.0.get(at + 1).map(String::as_str)
    }

    fn need(&self, flag: &str) -> Result<&str, Error> {
        self.get(flag).ok_or_else(|| format!("missing {flag}").into())
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("seed") => seed(&Args(args[1..].to_vec())),
        Some("touch") => touch(&Args(args[1..].to_vec())),
        _ => Err("usage: seed_grants seed|touch ... (see the source)".into()),
    };
    if let Err(error) = result {
        eprintln!("seed_grants: {error}");
        std::process::exit(1);
    }
}

fn seed(args: &Args) -> Result<(), Error> {
    let config = jitgate_access::config::load(&PathBuf::from(args.need("--config")?))?;
    let count: usize = args.need("--count")?.parse()?;
    let out = PathBuf::from(args.need("--cookies")?);
    let group = GroupName::parse(args.get("--group").unwrap_or("sre"))?;
    let resource = match args.get("--resource") {
        Some(name) => config
            .resource(&ResourceName::parse(name)?)
            .ok_or_else(|| format!("no resource {name} in the config"))?,
        None => config.resources.first().ok_or("the config has no resource")?,
    };
    let (name, host) = (resource.name.clone(), resource.host.clone());

    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let store: Arc<dyn Store> = runtime.block_on(async {
        Ok::<Arc<dyn Store>, Error>(match &config.store {
            StoreConfig::Embedded { path } => Arc::new(EmbeddedStore::open(path)?),
            StoreConfig::Redis { url, prefix, .. } => {
                Arc::new(RedisStore::connect(url.expose(), prefix).await?)
            }
        })
    })?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let policies = Arc::new(config.policy_set());
    let ids = Arc::new(IdGenerator::new());
    let keys = Arc::new(TokenKeys::new(config.session.secret.expose().as_bytes()));
    let ttl = config.session.ttl;
    let done = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();

    let cookies: Vec<(usize, String)> = runtime.block_on(async {
        let mut tasks = Vec::new();
        for task in 0..SEED_TASKS {
            let (store, policies, ids, keys, clock, done) = (
                store.clone(),
                policies.clone(),
                ids.clone(),
                keys.clone(),
                clock.clone(),
                done.clone(),
            );
            let (name, host, group) = (name.clone(), host.clone(), group.clone());
            tasks.push(tokio::spawn(async move {
                let mut cookies = Vec::new();
                for i in (task..count).step_by(SEED_TASKS) {
                    let user = UserId::parse(&format!("load-{i}@bench.example"))?;
                    let identity = Identity::new(user, [group.clone()]);
                    let now = clock.now();
                    let session = Session {
                        id: SessionId::random(),
                        identity: identity.clone(),
                        created_at: now,
                        expires_at: now.plus(ttl),
                    };
                    store.create_session(&session).await?;
                    let resource_policy = &policies.resources[&name];
                    let Access::Jit { policy, .. } =
                        resource_policy.resolve(&policies.roles, &identity)
                    else {
                        return Err(format!("{group} has no just-in-time access to {name}").into());
                    };
                    let ctx = Context { now, ids: &ids };
                    let new = NewRequest {
                        requester: identity.clone(),
                        resource: name.clone(),
                        reason: "load benchmark".into(),
                        duration: GRANT,
                    };
                    let id = RequestId::from(ids.next(now));
                    let change = transition::open(&ctx, new, id, policy, None)?;
                    store.commit(&change).await?;
                    let request = change
                        .requests
                        .iter()
                        .find(|written| written.request.id == id)
                        .map(|written| &written.request)
                        .ok_or("the transition wrote no request")?;
                    if request.status_at(now) != Status::Active {
                        return Err(format!(
                            "{} on {name} is {:?}, not auto-approved: use a group whose \
                             assignment has approval = \"auto\"",
                            identity.user,
                            request.status_at(now)
                        )
                        .into());
                    }
                    cookies.push((i, keys.session_cookie(&session.id, &host, session.expires_at)));
                    let total = done.fetch_add(1, Ordering::Relaxed) + 1;
                    if total % 10_000 == 0 {
                        eprintln!("seed_grants: {total} sessions with grants");
                    }
                }
                Ok::<_, Error>(cookies)
            }));
        }
        let mut all = Vec::with_capacity(count);
        for task in tasks {
            all.extend(task.await??);
        }
        Ok::<_, Error>(all)
    })?;
    let mut cookies = cookies;
    cookies.sort_unstable_by_key(|(i, _)| *i);
    let mut file = std::io::BufWriter::new(std::fs::File::create(&out)?);
    for (_, cookie) in &cookies {
        writeln!(file, "{cookie}")?;
    }
    file.flush()?;
    eprintln!(
        "seed_grants: {} sessions with active grants on {name} ({host}) in {:.1} s; cookies in {}",
        cookies.len(),
        started.elapsed().as_secs_f64(),
        out.display()
    );
    Ok(())
}

/// Reads one HTTP/1.1 response (Content-Length framed) and returns its status.
fn read_response(reader: &mut BufReader<TcpStream>) -> Result<u16, Error> {
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("not an HTTP response: {line:?}"))?;
    let mut length = None;
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = Some(value.trim().parse::<usize>()?);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                return Err("chunked responses are not supported here".into());
            }
        }
    }
    let mut body = vec![0; length.ok_or("a response without Content-Length")?];
    reader.read_exact(&mut body)?;
    Ok(status)
}

fn touch(args: &Args) -> Result<(), Error> {
    let addr = args.need("--addr")?.to_owned();
    let host = args.need("--host")?.to_owned();
    let connections: usize = args.get("--connections").unwrap_or("8").parse()?;
    let cookies: Arc<Vec<String>> = Arc::new(
        std::fs::read_to_string(args.need("--cookies")?)?.lines().map(str::to_owned).collect(),
    );
    let started = Instant::now();
    let workers: Vec<_> = (0..connections)
        .map(|worker| {
            let (addr, host, cookies) = (addr.clone(), host.clone(), cookies.clone());
            std::thread::spawn(move || -> Result<usize, Error> {
                let stream = TcpStream::connect(&addr)?;
                stream.set_nodelay(true)?;
                let mut writer = stream.try_clone()?;
                let mut reader = BufReader::new(stream);
                let mut allowed = 0;
                for cookie in cookies.iter().skip(worker).step_by(connections) {
                    write!(
                        writer,
                        "GET / HTTP/1.1\r\nHost: {host}\r\nAccept: */*\r\n\
                         Cookie: {SESSION_COOKIE}={cookie}\r\n\r\n"
                    )?;
                    match read_response(&mut reader)? {
                        200 => allowed += 1,
                        other => {
                            return Err(format!("a seeded session got {other}, not 200").into());
                        }
                    }
                }
                Ok(allowed)
            })
        })
        .collect();
    let mut allowed = 0;
    for worker in workers {
        allowed += worker.join().map_err(|_| "a touch worker panicked")??;
    }
    eprintln!(
        "seed_grants: {allowed} of {} sessions allowed through {addr} in {:.1} s",
        cookies.len(),
        started.elapsed().as_secs_f64()
    );
    if allowed != cookies.len() {
        return Err("not every seeded session was allowed".into());
    }
    Ok(())
}
