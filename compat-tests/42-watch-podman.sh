# pipework --watch --engine podman, against Podman's own API service (on a
# socket private to this test): a label and a file line are attached at
# start, and again after `podman restart`; podman rm is followed.
. "$(dirname "$0")/lib.sh"
"$ROOT/scripts/podman-up" >/dev/null
P1=pwc-wp1-$HOST; P2=pwc-wp2-$HOST
SOCK=/tmp/pwpodman-$HOST.sock
# One container a call: Podman 4.3's `rm -f` given a name that is gone
# (P2, removed below) among others silently removes none of them, which
# left P1 behind after every run.
rm_containers() { local c; for c in "$@"; do podman rm -f -t 0 "$c" >/dev/null 2>&1 || true; done; }
on_exit "rm_containers $P1 $P2"
podman system service --time=0 "unix://$SOCK" >/dev/null 2>&1 &
SVC=$!; on_exit "kill $SVC; rm -f $SOCK"
limits=(--ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
podman run -d --name "$P1" --network none "${limits[@]}" localhost/busybox:latest sleep 600 >/dev/null
podman run -d --name "$P2" --network none "${limits[@]}" --label pipework.attach="br1 10.42.0.3/24" \
    localhost/busybox:latest sleep 600 >/dev/null
WATCH=$(mktemp /tmp/pwwatch.XXXXXX); LOG=$(mktemp /tmp/pwwatch.XXXXXX)
on_exit "rm -f $WATCH $LOG"
printf 'labels br1\nbr1 %s 10.42.0.2/24 U:%s\n' "$P1" "$P1" >"$WATCH"
for i in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.05; done

ip netns exec "$HOST" env CONTAINER_HOST="unix://$SOCK" "$PIPEWORK_BIN" --engine podman --watch "$WATCH" 2>>"$LOG" &
W=$!; on_exit "kill $W"
pid_of() { podman inspect -f '{{.State.Pid}}' "$1"; }
wait_log 1 "reconciled"
expect "a file line names a Podman container" "inet 10.42.0.2/24" in_guest "$(pid_of "$P1")" ip -o addr show eth1
expect "a Podman label is served" "inet 10.42.0.3/24" in_guest "$(pid_of "$P2")" ip -o addr show eth1
tcp_ok "$(pid_of "$P2")" "$(pid_of "$P1")" 10.42.0.2

podman restart -t 0 "$P1" >/dev/null
wait_log 1 "$P1: attached eth1 .* after the start event"
expect "after podman restart eth1 is back" "inet 10.42.0.2/24" in_guest "$(pid_of "$P1")" ip -o addr show eth1
tcp_ok "$(pid_of "$P2")" "$(pid_of "$P1")" 10.42.0.2
podman rm -f -t 0 "$P2" >/dev/null
wait_log 1 "$P2: removed"

# A container in the watch's own network namespace (as --network host is
# for a watch in the host's) is refused, whatever its label asks.
P3=pwc-wp3-$HOST
on_exit "rm_containers $P3"
podman run -d --name "$P3" --network "ns:/var/run/netns/$HOST" "${limits[@]}" \
    --label pipework.attach="br1 -i eth9 10.42.0.9/24" localhost/busybox:latest sleep 600 >/dev/null
wait_log 1 "$P3: .*shares this host's network namespace"
expect_not "nothing was made for it" "eth9" in_host ip -o link
kill -TERM "$W"; wait "$W" || fail "the watch exited $? on SIGTERM"
# What this test made goes, by the cleanup's own means.
rm_containers "$P1" "$P2" "$P3"
left=$(podman ps -a --format '{{.Names}}' | grep -Fx -e "$P1" -e "$P2" -e "$P3" || true)
[ -z "$left" ] || fail "podman rm left: $left"
note "ok: every container this test made is gone"
