# GUEST as a Docker container name, resolved by one `docker inspect`; a shim
# stands in for docker here (a real dockerd suite runs separately). A PID
# is believed only when its process is in the container's cgroup: a shim
# answering with a process outside it (a container that stopped, its PID
# reused) is refused on every path, and nothing changes.
. "$(dirname "$0")/lib.sh"
G1=$(new_guest)
in_cgroup "$G1" 0123456789abcdef
# A stranger: some other process, in a namespace of its own, holding the PID
# the engine last gave for container "reused".
G2=$(new_guest)
SHIM=$(mktemp -d); on_exit "rm -rf $SHIM"
cat >"$SHIM/docker" <<SH
#!/bin/sh
echo "\$*" >>"$SHIM/calls"
for last; do :; done
case "\$last" in
  web1) echo "$G1 0123456789abcdef /web1" ;;
  stopped) echo "0 fedcba9876543210 /stopped" ;;
  reused) echo "$G2 aaaabbbbccccdddd /reused" ;;
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

in_host ip link add br2 type bridge; in_host ip link set br2 up
before=$(snapshot "$G2")
fails_with "a PID outside the container's cgroup is refused" \
    "container 'reused': process $G2, which the engine gave as its PID, is not in the container's cgroup" \
    pipework br2 reused 10.180.1.2/24
fails_with "--detach refuses it too" "is not in the container's cgroup" pipework --detach reused
printf 'br2 reused 10.180.1.3/24\nbr2 -i eth2 web1 10.180.1.4/24\n' >"$SHIM/batch"
fails_with "and a batch naming it, before any line runs" "is not in the container's cgroup" pipework --batch "$SHIM/batch"
same_as_before "$G2" "$before" "nothing changed on the host or in the stranger's namespace"
expect_not "the batch's other line did not run" "eth2" in_guest "$G1" ip -o link show
