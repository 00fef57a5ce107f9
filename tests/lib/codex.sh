# codex.sh - the real Codex CLI and a mock model for the end-to-end tests and the
# demo. POSIX sh; source it after tap.sh or sshd.sh (it shares their exit hooks).
#
#   codex_install || skip_all "$CODEX_WHY"   # exports CODEX_BIN (and CODEX_JS)
#   codex_mock_start "$tmp/mock"             # exports CODEX_HOME, MOCK_PORT, ...
#   CODEX_HOME=$CODEX_HOME "$CODEX_BIN" app-server    # real turns, no network
#
# codex_install installs the published Codex CLI, pinned to @openai/codex@0.169.0
# (CODEX_VERSION), with npm into CODEX_CACHE (default $top_srcdir/.cache, which git
# ignores) as CODEX_CACHE/codex-VERSION, and reuses that folder when it is there.
# Concurrent installs (parallel `make check`) take turns on a lock. It exports
#   CODEX_BIN   the native codex binary of the package (what the node launcher
#               runs; used directly, so no node process sits in a pipe)
#   CODEX_JS    the package's node launcher (node_modules/.bin/codex)
# and fails with CODEX_WHY set (fit for skip_all) when npm is missing or the
# install fails. A CODEX_BIN that is already set and executable is used as it is.
# The install waits at most CODEX_INSTALL_TIMEOUT (600) seconds.
#
# codex_mock_start DIR starts tests/mock-responses.py (a mock of the OpenAI
# Responses API) on 127.0.0.1 with a free port, and writes DIR/home/config.toml
# pointing the app server at it (approval_policy on-request, sandbox read-only,
# analytics and feedback off). It exports
#   CODEX_HOME  DIR/home     MOCK_PORT   the mock's port
#   MOCK_PID    its pid      MOCK_LOG    DIR/mock.log (one line per request)
# and stops the mock on exit. It waits at most 10 s for the mock to listen; the
# mock exits by itself after MOCK_LIFETIME (900) seconds. codex_mock_stop stops it.

# ---- exit hooks: tests/lib/atexit.sh ------------------------------------------
. "$top_srcdir/tests/lib/atexit.sh"

: "${CODEX_VERSION:=0.169.0}"

_codex_say() {
	echo "codex.sh: $*" >&2
}

# The native binary inside an npm install under $1, or nothing.
_codex_native() {
	case $(uname -m) in
	x86_64|amd64) _cn_pkg=codex-linux-x64 _cn_triple=x86_64-unknown-linux-musl ;;
	aarch64|arm64) _cn_pkg=codex-linux-arm64 _cn_triple=aarch64-unknown-linux-musl ;;
	*) return 1 ;;
	esac
	_cn=$1/node_modules/@openai/$_cn_pkg/vendor/$_cn_triple/bin/codex
	[ -x "$_cn" ] || return 1
	echo "$_cn"
}

# Whether $1 runs and says it is codex-cli $CODEX_VERSION.
_codex_version_ok() {
	case $(timeout 20 "$1" --version 2>/dev/null) in
	"codex-cli $CODEX_VERSION"*) return 0 ;;
	esac
	return 1
}

# codex_install: see the top of the file.
codex_install() {
	CODEX_WHY=
	if [ -n "${CODEX_BIN:-}" ] && [ -x "$CODEX_BIN" ]; then
		export CODEX_BIN
		return 0
	fi
	_ci_cache=${CODEX_CACHE:-${top_srcdir:-.}/.cache}
	_ci_dir=$_ci_cache/codex-$CODEX_VERSION
	if _ci_bin=$(_codex_native "$_ci_dir") && _codex_version_ok "$_ci_bin"; then
		:
	else
		if ! command -v npm >/dev/null 2>&1; then
			CODEX_WHY="npm is not installed (needed for @openai/codex@$CODEX_VERSION)"
			return 1
		fi
		if ! mkdir -p "$_ci_cache" 2>/dev/null; then
			CODEX_WHY="cannot create $_ci_cache"
			return 1
		fi
		_ci_cache=$(cd "$_ci_cache" && pwd)
		_ci_dir=$_ci_cache/codex-$CODEX_VERSION
		# One install at a time; whoever waited finds it done.
		(
			if command -v flock >/dev/null 2>&1; then
				exec 9>"$_ci_cache/codex-$CODEX_VERSION.lock"
				flock -w "${CODEX_INSTALL_TIMEOUT:-600}" 9 || exit 1
			fi
			_ci_b=$(_codex_native "$_ci_dir") && _codex_version_ok "$_ci_b" && exit 0
			_ci_tmp=$_ci_dir.tmp.$$
			rm -rf "$_ci_tmp"
			_codex_say "installing @openai/codex@$CODEX_VERSION into $_ci_dir (npm)"
			if ! timeout -k 10 "${CODEX_INSTALL_TIMEOUT:-600}" npm install \
			    --prefix "$_ci_tmp" --no-audit --no-fund --no-update-notifier \
			    --loglevel=error --save-exact "@openai/codex@$CODEX_VERSION" \
			    >"$_ci_cache/codex-$CODEX_VERSION.npm.log" 2>&1; then
				tail -n 5 "$_ci_cache/codex-$CODEX_VERSION.npm.log" |
				    sed 's/^/codex.sh:   npm: /' >&2
				rm -rf "$_ci_tmp"
				exit 1
			fi
			rm -rf "$_ci_dir"
			mv "$_ci_tmp" "$_ci_dir"
		) || {
			CODEX_WHY="cannot install @openai/codex@$CODEX_VERSION with npm (see $_ci_cache/codex-$CODEX_VERSION.npm.log)"
			return 1
		}
		if ! _ci_bin=$(_codex_native "$_ci_dir"); then
			CODEX_WHY="@openai/codex@$CODEX_VERSION has no native binary for $(uname -m) in $_ci_dir"
			return 1
		fi
		if ! _codex_version_ok "$_ci_bin"; then
			CODEX_WHY="$_ci_bin does not run or is not codex-cli $CODEX_VERSION"
			return 1
		fi
	fi
	CODEX_BIN=$_ci_bin
	CODEX_JS=$_ci_dir/node_modules/.bin/codex
	export CODEX_BIN CODEX_JS
	return 0
}

# codex_write_config HOME PORT: the config.toml of a CODEX_HOME that uses the mock.
codex_write_config() {
	mkdir -p "$1" && chmod 700 "$1" || return 1
	cat >"$1/config.toml" <<EOF
# written by tests/lib/codex.sh: the model is the local mock on 127.0.0.1:$2
model = "mock-model"
model_provider = "mock_provider"
approval_policy = "on-request"
sandbox_mode = "read-only"
check_for_update_on_startup = false

[model_providers.mock_provider]
name = "mock"
base_url = "http://127.0.0.1:$2/v1"
wire_api = "responses"
request_max_retries = 0
stream_max_retries = 0
supports_websockets = false

[analytics]
enabled = false

[feedback]
enabled = false
EOF
}

# codex_mock_start DIR: see the top of the file.
codex_mock_start() {
	_cm_dir=$1
	mkdir -p "$_cm_dir" && chmod 700 "$_cm_dir" || return 1
	_cm_dir=$(cd "$_cm_dir" && pwd)
	_cm_src=${top_srcdir:-$(dirname "$0")/../..}/tests/mock-responses.py
	if ! command -v python3 >/dev/null 2>&1; then
		_codex_say "python3 is needed for the mock model"
		return 1
	fi
	rm -f "$_cm_dir/mock.port"
	python3 "$_cm_src" --port-file "$_cm_dir/mock.port" --log "$_cm_dir/mock.log" \
	    --lifetime "${MOCK_LIFETIME:-900}" </dev/null >/dev/null 2>"$_cm_dir/mock.err" &
	MOCK_PID=$!
	at_exit "codex_mock_stop $MOCK_PID"
	_cm_i=0
	while [ ! -s "$_cm_dir/mock.port" ]; do
		if ! kill -0 "$MOCK_PID" 2>/dev/null || [ "$_cm_i" -ge 200 ]; then
			_codex_say "the mock model did not start: $(tail -n 3 "$_cm_dir/mock.err" 2>/dev/null)"
			return 1
		fi
		sleep 0.05
		_cm_i=$((_cm_i + 1))
	done
	MOCK_PORT=$(cat "$_cm_dir/mock.port")
	MOCK_LOG=$_cm_dir/mock.log
	CODEX_HOME=$_cm_dir/home
	codex_write_config "$CODEX_HOME" "$MOCK_PORT" || return 1
	export CODEX_HOME MOCK_PORT MOCK_PID MOCK_LOG
	return 0
}

# codex_mock_stop [PID]: stops the mock (default: the last started) and waits.
codex_mock_stop() {
	_cs_pid=${1:-${MOCK_PID:-}}
	[ -n "$_cs_pid" ] || return 0
	kill -TERM "$_cs_pid" 2>/dev/null || return 0
	wait "$_cs_pid" 2>/dev/null
	return 0
}
