# pipework --wait -i eth3, run inside the container, returns once eth3 is
# configured: up, with carrier and an address (reference PR #31, issue #243),
# not merely once it exists.
. "$(dirname "$0")/lib.sh"
G1=$(new_guest)
marker=$(mktemp); on_exit "rm -f $marker"
( in_guest "$G1" "$PIPEWORK_BIN" --wait -i eth3 && echo done >"$marker" ) &
sleep 0.5
[ ! -s "$marker" ] || fail "--wait returned before eth3 existed"
pipework br1 -i eth3 "$G1" 10.130.0.2/24
for i in $(seq 50); do [ -s "$marker" ] && break; sleep 0.1; done
[ -s "$marker" ] || fail "--wait did not return after eth3 was attached"
note "ok: --wait returned once eth3 was attached"

# Present is not configured: an interface that exists, then is up without
# carrier, then has carrier but no address, keeps --wait waiting.
: >"$marker"
( in_guest "$G1" "$PIPEWORK_BIN" --wait -i eth5 && echo done >"$marker" ) &
in_guest "$G1" ip link add eth5 type veth peer name eth5p
in_guest "$G1" ip link set eth5 up
sleep 0.5
[ ! -s "$marker" ] || fail "--wait returned for an eth5 without carrier"
in_guest "$G1" ip link set eth5p up
sleep 0.5
[ ! -s "$marker" ] || fail "--wait returned for an eth5 without an address"
in_guest "$G1" ip addr add 10.130.1.2/24 dev eth5
for i in $(seq 50); do [ -s "$marker" ] && break; sleep 0.1; done
[ -s "$marker" ] || fail "--wait did not return once eth5 was configured"
note "ok: --wait waited through existing, up and carrier, and returned with the address"

# Waiting is listening: --wait sleeps on the kernel's link and address
# notifications, so three seconds of waiting ask the kernel a handful of
# times (a poll every 100 ms asks 30 times and more). Counted, not timed.
slog=$(mktemp); on_exit "rm -f $slog"
: >"$marker"
( in_guest "$G1" strace -f -qq -e trace=sendto,sendmsg -e signal=none -o "$slog" "$PIPEWORK_BIN" --wait -i eth6 &&
  echo done >"$marker" ) &
sleep 3
n=$(grep -c -E 'sendto|sendmsg' "$slog")
[ "$n" -le 12 ] || fail "--wait asked the kernel $n times in 3 s while nothing changed: it polls"
pipework br1 -i eth6 "$G1" 10.130.2.2/24
for i in $(seq 50); do [ -s "$marker" ] && break; sleep 0.1; done
[ -s "$marker" ] || fail "--wait did not return once eth6 was attached"
note "ok: --wait asked the kernel $n times in 3 s of waiting, and returned once eth6 was attached"
