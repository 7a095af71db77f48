# Nothing half-made, even when killed. SIGKILL at 200 points of an attach
# (a deterministic sequence of delays): whatever the killed run left, the
# same line run again ends attached and pinging, with nothing else left.
# SIGTERM, SIGINT and SIGHUP at 100 points each: the run undoes what it made
# and exits 143, 130 or 129, or it had finished (exit 0, attached); never a
# half.
. "$(dirname "$0")/lib.sh"
set -m   # background jobs keep SIGINT, as a program run from a terminal does
P=$(new_guest); G=$(new_guest)
pipework br1 "$P" 10.33.0.1/24
RANDOM=4242

host_links() { in_host ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | sort | xargs; }
guest_links() { in_guest "$G" ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | sort | xargs; }
base_host=$(host_links); base_guest=$(guest_links)
attached_host=$(printf '%s\n' $base_host "veth1pl$G" | sort | xargs)

# attached: exactly the attach's devices, configured, and traffic passes.
attached() {
    [ "$(host_links)" = "$attached_host" ] || fail "host has $(host_links), wanted $attached_host"
    [ "$(guest_links)" = "eth1 lo" ] || fail "guest has $(guest_links)"
    [[ $(in_guest "$G" ip -o addr show eth1) == *"inet 10.33.0.2/24"* ]] || fail "eth1 lacks its address"
    in_guest "$G" ping -c 1 -W 2 10.33.0.1 >/dev/null || fail "attached, but no ping"
}
untouched() {
    [ "$(host_links)" = "$base_host" ] || fail "host kept $(host_links), wanted $base_host"
    [ "$(guest_links)" = "$base_guest" ] || fail "guest kept $(guest_links)"
}
# One attach, stopped by SIG after a delay of DELAY seconds; prints its exit status.
attach_stopped() {
    local sig=$1 delay=$2 p rc=0
    ip netns exec "$HOST" "$PIPEWORK_BIN" br1 "$G" 10.33.0.2/24 >/dev/null 2>&1 &
    p=$!
    sleep "$delay"
    kill "-$sig" "$p" 2>/dev/null || true
    wait "$p" || rc=$?
    echo "$rc"
}
delay() { printf "0.%04d" $((RANDOM % 45)); }   # 0 to 4.5 ms: an attach here takes 3 to 5

half=0 repaired=0 finished=0
for i in $(seq 200); do
    attach_stopped KILL "$(delay)" >/dev/null
    if [ "$(guest_links)" = "eth1 lo" ] && [[ $(in_guest "$G" ip -o addr show eth1) == *10.33.0.2/24* ]] &&
       [[ $(in_guest "$G" ip -o link show eth1) == *"state UP"* ]]; then
        finished=$((finished + 1))
    else
        [ "$(host_links)" = "$base_host" ] && [ "$(guest_links)" = "$base_guest" ] || half=$((half + 1))
        out=$(pipework br1 "$G" 10.33.0.2/24 2>&1) || fail "run $i: the attach after a kill failed: $out"
        repaired=$((repaired + 1))
    fi
    attached
    pipework --detach "$G" 2>/dev/null
    untouched
done
note "ok: SIGKILL 200 times: $half left something half-made, $repaired attaches after a kill all succeeded, $finished had finished"

for sig in TERM INT HUP; do
    stopped=0 done=0
    for i in $(seq 100); do
        rc=$(attach_stopped "$sig" "$(delay)")
        case "$rc" in
            0) attached; done=$((done + 1)); pipework --detach "$G" 2>/dev/null ;;
            143|130|129) untouched; stopped=$((stopped + 1)) ;;
            *) fail "SIG$sig run $i: exit $rc" ;;
        esac
        untouched
    done
    [ "$stopped" -gt 0 ] || fail "SIG$sig never arrived during an attach: the test proved nothing"
    note "ok: SIG$sig 100 times: $stopped undone completely (exit $((128 + $(kill -l "$sig")))), $done had finished"
done

# A new bridge each time: an attach killed after it made the bridge leaves it
# empty; --detach of that guest and interface removes it.
for i in $(seq 30); do
    # Started directly, not through a function: $! must be pipework itself.
    ip netns exec "$HOST" "$PIPEWORK_BIN" "brk$i" "$G" 10.33.1.2/24 >/dev/null 2>&1 &
    p=$!
    sleep "$(delay)"; kill -KILL "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true
    pipework --detach "$G" 2>/dev/null
    untouched_but_bridges=$(host_links | tr ' ' '\n' | grep -v '^brk' | xargs)
    [ "$untouched_but_bridges" = "$base_host" ] || fail "run $i left $(host_links)"
done
left=$(in_host ip -o link show type bridge | grep -c ' brk' || true)
[ "$left" = 0 ] || fail "$left empty bridges made by killed attaches are left: $(host_links)"
note "ok: 30 attaches to new bridges killed, each followed by --detach: no bridge left"

# A batch stopped by SIGTERM takes back every line it had attached, not only
# the one the signal fell on.
G2=(); for i in $(seq 12); do G2+=("$(new_guest)"); done
batch=$(mktemp); on_exit "rm -f $batch"
for i in $(seq 0 11); do echo "br1 ${G2[$i]} 10.33.2.$((i + 2))/24"; done >"$batch"
# The last line waits for a DHCP server that is not there: the signal comes
# while it waits, with the twelve lines before it attached.
echo "br1 -i eth9 ${G2[0]} udhcpc" >>"$batch"
before_host=$(host_links)
ip netns exec "$HOST" "$PIPEWORK_BIN" --batch "$batch" >/dev/null 2>&1 & p=$!
for i in $(seq 500); do [[ $(in_guest "${G2[0]}" ip -o link) == *eth9* ]] && break; sleep 0.01; done
[[ $(in_guest "${G2[11]}" ip -o addr) == *10.33.2.13/24* ]] || fail "the batch never got to its last line"
kill -TERM "$p"; rc=0; wait "$p" || rc=$?
[ "$rc" = 143 ] || fail "the batch exited $rc, wanted 143"
[ "$(host_links)" = "$before_host" ] || fail "the stopped batch left $(host_links)"
for g in "${G2[@]}"; do [[ $(in_guest "$g" ip -o link) != *eth1* ]] || fail "guest $g kept its eth1"; done
note "ok: a batch stopped by SIGTERM took back all its lines and exited 143"
