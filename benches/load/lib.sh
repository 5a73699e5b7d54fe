# Shared by benches/load/run and benches/load/figures: tools, builds, free ports, the processes
# a run starts (all stopped on exit), the upstream, jitgate configs and a real portal sign-in.
# shellcheck shell=bash
# shellcheck disable=SC2034 # the variables set here are read by run and figures

LOAD_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$LOAD_DIR/../.." && pwd)
RELEASE="$ROOT/target/release"
# The CARGO_TARGET_DIR of the build, if set, wins.
[ -n "${CARGO_TARGET_DIR:-}" ] && RELEASE="$CARGO_TARGET_DIR/release"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/jitgate-load.XXXXXX")
chmod 755 "$WORK" # nginx workers may run as another user
PIDS=()

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
die() {
  echo "FAILED: $*" >&2
  exit 1
}

# Whether PID runs (a child that exited stays a zombie until waited for: that is not running).
alive() {
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ]
}

# Stops every process this run started (SIGINT: a fast shutdown for nginx, Pingora, jitgate
# and Redis alike; the latest started first), then
# removes the scratch directory (KEEP_WORK=1 keeps it, with every log).
cleanup() {
  local status=$? i pid
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    kill -INT "${PIDS[i]}" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 100); do alive "$pid" || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  if [ "$status" -ne 0 ] || [ -n "${KEEP_WORK:-}" ]; then
    echo "logs and configs kept in $WORK" >&2
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- tools -------------------------------------------------------------------------------

# Installs the Debian packages a run needs, like scripts/test does. A freshly installed nginx
# or redis-server package may start its system service: stop it, a run uses its own.
need_tools() {
  local requirement missing=() sudo=""
  for requirement in "$@"; do
    command -v "${requirement%%:*}" >/dev/null 2>&1 || missing+=("${requirement#*:}")
  done
  ((${#missing[@]})) || return 0
  log "installing ${missing[*]}"
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
  for requirement in "${missing[@]}"; do
    case "$requirement" in
    nginx* | redis-server)
      local service=${requirement%%-*}
      [ "$requirement" = redis-server ] && service=redis-server
      if command -v systemctl >/dev/null 2>&1; then
        $sudo systemctl stop "$service" >/dev/null 2>&1 || true
        $sudo systemctl disable "$service" >/dev/null 2>&1 || true
      fi
      if command -v service >/dev/null 2>&1; then $sudo service "$service" stop >/dev/null 2>&1 || true; fi
      ;;
    esac
  done
}

build() {
  if [ -n "${SKIP_BUILD:-}" ]; then
    log "SKIP_BUILD set: using the binaries already in $RELEASE"
  else
    log "building jitgate and the examples (release)"
    (cd "$ROOT" && cargo build --release --locked --bin jitgate \
      && cargo build --release --locked -p jitgate-proxy --example passthrough --example seed_grants) \
      >"$WORK/build.log" 2>&1 || {
      tail -40 "$WORK/build.log" >&2
      die "the release build failed (log above)"
    }
  fi
  JITGATE="$RELEASE/jitgate"
  PASSTHROUGH="$RELEASE/examples/passthrough"
  SEED="$RELEASE/examples/seed_grants"
  for binary in "$JITGATE" "$PASSTHROUGH" "$SEED"; do
    [ -x "$binary" ] || die "$binary is missing"
  done
}

# --- CPUs --------------------------------------------------------------------------------

# PIN=split (default on 2+ CPUs): the process under test gets the upper half of the CPUs, the
# load generator, the upstream and Redis the lower half, so wrk never takes CPU from the proxy
# it measures. PIN=none: no pinning, everything shares every CPU.
setup_cpus() {
  local cpus
  cpus=$(nproc)
  PIN=${PIN:-split}
  [ "$cpus" -ge 2 ] || PIN=none
  case "$PIN" in
  split)
    local half=$((cpus / 2))
    LOAD_CPUS="0-$((half - 1))"
    PROXY_CPUS="$half-$((cpus - 1))"
    THREADS=$((cpus - half))
    LOAD_THREADS=$half
    ;;
  none)
    LOAD_CPUS=""
    PROXY_CPUS=""
    THREADS=$cpus
    LOAD_THREADS=$cpus
    ;;
  *) die "PIN must be split or none" ;;
  esac
}

# pinned CPUS command...: runs (execs) the command, on CPUS when pinning.
pinned() {
  local cpus=$1
  shift
  if [ -n "$cpus" ]; then exec taskset -c "$cpus" "$@"; else exec "$@"; fi
}

# --- processes ---------------------------------------------------------------------------

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start NAME CPUS command...: runs it in the background, logging to $WORK/NAME.log; its pid
# is in $STARTED.
start() {
  local name=$1 cpus=$2
  shift 2
  # A subshell that execs the command: $! is the command's own pid, not a shell's.
  (pinned "$cpus" "$@") >"$WORK/$name.log" 2>&1 &
  STARTED=$!
  PIDS+=("$STARTED")
}

stop() {
  local pid=$1 i
  kill -INT "$pid" 2>/dev/null || true
  for _ in $(seq 100); do alive "$pid" || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  for i in "${!PIDS[@]}"; do [ "${PIDS[i]}" = "$pid" ] && unset 'PIDS[i]'; done
  PIDS=("${PIDS[@]}")
}

# wait_for NAME PID URL [HOST]: until URL answers (any status), or fail with NAME's log.
wait_for() {
  local name=$1 pid=$2 url=$3 host=${4:-}
  local headers=()
  [ -n "$host" ] && headers=(-H "Host: $host")
  for _ in $(seq 300); do
    alive "$pid" || { tail -20 "$WORK/$name.log" >&2; die "$name exited"; }
    curl -sk -o /dev/null "${headers[@]}" --max-time 1 "$url" && return 0
    sleep 0.1
  done
  tail -20 "$WORK/$name.log" >&2
  die "$name did not answer on $url"
}

# PIDS and their child processes (nginx's workers), one per line.
with_children() {
  printf '%s\n' "$@"
  pgrep -P "$(
    IFS=,
    echo "$*"
  )" 2>/dev/null || true
}

# The CPU time (user + system, in clock ticks) of PIDS and their child processes.
cpu_ticks() {
  local pid total=0 stat fields
  for pid in $(with_children "$@"); do
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
    # Fields after the command name (which may hold spaces): utime is the 12th, stime the 13th.
    read -ra fields <<<"${stat##*) }"
    total=$((total + fields[11] + fields[12]))
  done
  echo "$total"
}

rss_kib() {
  awk '/^VmRSS:/ {print $2}' "/proc/$1/status"
}

# --- the upstream ------------------------------------------------------------------------

UPSTREAM_BODY="hello from the upstream"

# nginx_conf DIR WORKERS SERVERS...: an nginx config for a prefix of its own, no access log.
nginx_conf() {
  local dir=$1 workers=$2
  shift 2
  mkdir -p "$dir/tmp"
  cat >"$dir/nginx.conf" <<EOF
worker_processes $workers;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $dir/tmp/body;
  proxy_temp_path $dir/tmp/proxy;
  fastcgi_temp_path $dir/tmp/fastcgi;
  uwsgi_temp_path $dir/tmp/uwsgi;
  scgi_temp_path $dir/tmp/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 75s;
  default_type text/plain;
$*
}
EOF
}

# start_nginx NAME CPUS DIR: nginx in the foreground (its master is the pid), its own prefix.
start_nginx() {
  local name=$1 cpus=$2 dir=$3
  nginx -e "$dir/error.log" -p "$dir" -c "$dir/nginx.conf" -t >"$WORK/$name.test" 2>&1 \
    || { cat "$WORK/$name.test" >&2; die "$name: bad nginx config"; }
  start "$name" "$cpus" nginx -e "$dir/error.log" -p "$dir" -c "$dir/nginx.conf" -g 'daemon off;'
}

# The fast upstream every target ends at: nginx answering a small fixed 200, on the load CPUs
# (it serves every target alike). Sets UPSTREAM_PORT.
start_upstream() {
  UPSTREAM_PORT=$(free_port)
  # With WS_ECHO_PORT set, /ws/ is passed to that WebSocket echo server.
  local websocket=""
  [ -n "${WS_ECHO_PORT:-}" ] && websocket="
    location /ws/ {
      proxy_pass http://127.0.0.1:$WS_ECHO_PORT;
      proxy_http_version 1.1;
      proxy_set_header Upgrade \$http_upgrade;
      proxy_set_header Connection upgrade;
      proxy_read_timeout 1h;
    }"
  nginx_conf "$WORK/upstream" "$LOAD_THREADS" "
  server {
    listen 127.0.0.1:$UPSTREAM_PORT;
    location / { return 200 '$UPSTREAM_BODY'; }$websocket
  }"
  start_nginx upstream "$LOAD_CPUS" "$WORK/upstream"
  UPSTREAM_PID=$STARTED
  wait_for upstream "$UPSTREAM_PID" "http://127.0.0.1:$UPSTREAM_PORT/"
}

# A redis-server of our own on a free loopback port, no persistence. Sets REDIS_PORT.
start_redis() {
  REDIS_PORT=$(free_port)
  start redis "$LOAD_CPUS" redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' \
    --appendonly no --dir "$WORK"
  REDIS_PID=$STARTED
  for _ in $(seq 100); do
    redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  die "redis-server did not start"
}

# --- jitgate -----------------------------------------------------------------------------

PASSWORD="load-bench-password"

# users_file DIR: requesters in sre (auto approval) and engineering (manual), a reviewer and
# an admin, all with one password, hashed by jitgate itself.
users_file() {
  local dir=$1 hash
  hash=$(printf '%s' "$PASSWORD" | "$JITGATE" hash-password)
  {
    for i in $(seq 1 20); do
      printf '[[user]]\nemail = "sre%s@example.com"\npassword_hash = "%s"\ngroups = ["sre"]\n\n' "$i" "$hash"
      printf '[[user]]\nemail = "eng%s@example.com"\npassword_hash = "%s"\ngroups = ["engineering"]\n\n' "$i" "$hash"
    done
    printf '[[user]]\nemail = "reviewer@example.com"\npassword_hash = "%s"\ngroups = ["security"]\n\n' "$hash"
    printf '[[user]]\nemail = "admin@example.com"\npassword_hash = "%s"\ngroups = ["admins"]\n\n' "$hash"
  } >"$dir/users.toml"
}

# jitgate_config DIR LISTEN_PORT OPS_PORT STORE [PUBLIC_PORT]: DIR/jitgate.toml for one
# resource "app" on the upstream. STORE is "embedded" or a Redis URL. PUBLIC_PORT is the
# port browsers use (default LISTEN_PORT): instances behind one address differ only in ports.
jitgate_config() {
  local dir=$1 port=$2 ops=$3 store=$4 public=${5:-$2} store_section
  mkdir -p "$dir"
  [ -f "$dir/users.toml" ] || users_file "$dir"
  printf 'load-benchmark-session-secret-0123456789abcdef' >"$dir/secret"
  if [ "$store" = embedded ]; then
    store_section=$'backend = "embedded"\npath = "jitgate.db"'
  else
    store_section="backend = \"redis\""$'\n'"url = \"$store\""$'\n'"prefix = \"loadbench\""
  fi
  cat >"$dir/jitgate.toml" <<EOF
[server]
listen_http = "127.0.0.1:$port"
portal_url = "http://access.localhost:$public"
ops_listen = "127.0.0.1:$ops"

[identity]
provider = "local"
users_file = "users.toml"

[session]
secret = { file = "secret" }
ttl = "12h"

[roles]
admins = { groups = ["admins"] }
reviewers = { groups = ["security"] }

[store]
$store_section

[[resource]]
name = "app"
host = "app.localhost:$public"
upstreams = ["http://127.0.0.1:$UPSTREAM_PORT"]

[resource.policy]
mode = "jit"
durations = ["1h"]
allow_custom_duration = true
max_duration = "8h"
approval = "manual"
reason_required = true

[[resource.assignment]]
group = "engineering"

[[resource.assignment]]
group = "sre"
approval = "auto"
EOF
}

# jitgate_tls DIR CERT KEY: turns DIR/jitgate.toml (from jitgate_config) into an HTTPS-only
# deployment on the same port, terminating TLS with CERT and KEY.
jitgate_tls() {
  local dir=$1 cert=$2 key=$3
  sed -i -e "s|^listen_http = \"\(.*\)\"|listen_https = \"\1\"\ntls_cert = \"$cert\"\ntls_key = \"$key\"|" \
    -e 's|^portal_url = "http://|portal_url = "https://|' "$dir/jitgate.toml"
}

# self_signed DIR: DIR/cert.pem and DIR/key.pem, an ECDSA P-256 certificate for
# app.localhost and access.localhost, shared by every HTTPS target.
self_signed() {
  local dir=$1
  mkdir -p "$dir"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=app.localhost -addext "subjectAltName=DNS:app.localhost,DNS:access.localhost" \
    -keyout "$dir/key.pem" -out "$dir/cert.pem" >/dev/null 2>&1 || die "openssl could not make a certificate"
}

# start_jitgate NAME DIR PORT OPS [SCHEME]: jitgate serve on DIR/jitgate.toml, pinned like
# every proxy under test, logging warnings only. Waits until it is ready. Sets JITGATE_PID.
start_jitgate() {
  local name=$1 dir=$2 port=$3 ops=$4 scheme=${5:-http}
  RUST_LOG=warn start "$name" "$PROXY_CPUS" "$JITGATE" serve --config "$dir/jitgate.toml"
  JITGATE_PID=$STARTED
  wait_for "$name" "$JITGATE_PID" "http://127.0.0.1:$ops/readyz"
  for _ in $(seq 100); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$ops/readyz")" = 200 ] && break
    sleep 0.1
  done
  wait_for "$name" "$JITGATE_PID" "$scheme://127.0.0.1:$port/"
}

# The value of the first hidden input named $1 in the HTML on stdin, unescaped.
field() {
  sed -n "s/.*name=\"$1\" value=\"\([^\"]*\)\".*/\1/p" | head -1 \
    | sed -e 's/&#x2f;/\//g' -e 's/&#38;/\&/g' -e 's/&amp;/\&/g'
}

# sign_in_and_request PORT EMAIL JAR [SCHEME]: like a user in a browser: visit the app, follow
# the redirect to the portal's sign-in form, sign in, land on the request form, ask (reason,
# duration) and follow the redirects back into the app. The app must then answer with the
# upstream's page. Prints the app host's session cookie value (on https, the cookie is
# `__Host-jitgate_session`; see session_cookie_name).
sign_in_and_request() {
  local port=$1 email=$2 jar=$3 scheme=${4:-http}
  local app="$scheme://app.localhost:$port/" portal="$scheme://access.localhost:$port"
  local browser=(curl -sSk -L --max-redirs 10 -c "$jar" -b "$jar" -H 'Accept: text/html'
    --resolve "app.localhost:$port:127.0.0.1" --resolve "access.localhost:$port:127.0.0.1"
    -w '\n%{url_effective} %{http_code}')
  local page landed csrf rd
  page=$("${browser[@]}" "$app")
  landed=$(tail -1 <<<"$page")
  [[ "$landed" == "$portal/auth/sign-in?"*" 200" ]] || die "visiting the app ended at $landed"
  csrf=$(field csrf <<<"$page")
  rd=$(field rd <<<"$page")
  page=$("${browser[@]}" --data-urlencode "csrf=$csrf" --data-urlencode "rd=$rd" \
    --data-urlencode "email=$email" --data-urlencode "password=$PASSWORD" "$portal/auth/sign-in")
  landed=$(tail -1 <<<"$page")
  [[ "$landed" == "$portal/request/app?"*" 200" || "$landed" == "$portal/request/app 200" ]] \
    || die "signing in as $email ended at $landed, not the request form"
  csrf=$(field csrf <<<"$page")
  page=$("${browser[@]}" --data-urlencode "csrf=$csrf" --data-urlencode "rd=$app" \
    --data-urlencode "duration=3600" --data-urlencode "reason=load benchmark" \
    "$portal/request/app")
  landed=$(tail -1 <<<"$page")
  [ "$landed" = "$app 200" ] || die "the request as $email ended at $landed, not in the app"
  grep -q "$UPSTREAM_BODY" <<<"$page" || die "the app did not show the upstream's page"
  awk -F'\t' -v name="$(session_cookie_name "$scheme")" \
    '$1 ~ /app\.localhost$/ && $6 == name {print $7}' "$jar" | tail -1
}

# session_cookie_name SCHEME: what jitgate's session cookie is called on http or https.
session_cookie_name() {
  if [ "$1" = https ]; then echo __Host-jitgate_session; else echo jitgate_session; fi
}

# metric OPS_PORT NAME_AND_LABELS: one counter's value from jitgate's /metrics (0 if absent).
metric() {
  curl -s "http://127.0.0.1:$1/metrics" | awk -v m="$2" '$1 == m {v = $2} END {print v + 0}'
}
