# GUEST as a Docker container name, resolved by one `docker inspect`; a shim
# stands in for docker here (a real dockerd suite runs separately).
. "$(dirname "$0")/lib.sh"
G1=$(new_guest)
SHIM=$(mktemp -d); on_exit "rm -rf $SHIM"
cat >"$SHIM/docker" <<SH
#!/bin/sh
echo "\$*" >>"$SHIM/calls"
for last; do :; done
case "\$last" in
  web1) echo "$G1 0123456789abcdef /web1" ;;
  stopped) echo "0 fedcba9876543210 /stopped" ;;
  *) echo "Error: No such container: \$last" >&2; exit 1 ;;
esac
SH
chmod +x "$SHIM/docker"
export PATH="$SHIM:$PATH"
# A host pipework's Engine API client does not speak (ssh://): the name goes
# to the docker command, the shim. (A unix:// socket that is missing would
# skip Docker altogether: its CLI would find nobody there either.)
export DOCKER_HOST=ssh://pipework-test.invalid

pipework br1 web1 10.180.0.2/24
expect "web1 resolved to its PID" "10.180.0.2/24" in_guest "$G1" ip -o addr show eth1
expect "one docker call for one attach" "^1$" sh -c "wc -l <$SHIM/calls"
fails_with "an unknown container is an error" "not found: .*unknown to Docker" pipework br1 nosuch 10.180.0.3/24
start=$(date +%s)
fails_with "a stopped container (PID 0) is an error after retrying" "is not running" pipework br1 stopped 10.180.0.4/24
[ $(( $(date +%s) - start )) -ge 2 ] || fail "PID 0 was not retried"
note "ok: PID 0 was retried before giving up"
