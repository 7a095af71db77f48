# pipework --wait -i eth3, run inside the container, returns once eth3 exists.
. "$(dirname "$0")/lib.sh"
G1=$(new_guest)
marker=$(mktemp); on_exit "rm -f $marker"
( in_guest "$G1" "$PIPEWORK_BIN" --wait -i eth3 && echo done >"$marker" ) &
sleep 0.5
[ ! -s "$marker" ] || fail "--wait returned before eth3 existed"
pipework br1 -i eth3 "$G1" 10.130.0.2/24
for i in $(seq 50); do [ -s "$marker" ] && break; sleep 0.1; done
[ -s "$marker" ] || fail "--wait did not return after eth3 appeared"
note "ok: --wait returned once eth3 appeared"
