# pipework beside the CNI reference `bridge` plugin, on equivalent
# configurations (static IPAM, a default route): the guest's interface,
# addresses and routes, the host side's bridge-port settings and the result
# object's shape come out the same. Known and kept difference: our veth has
# iproute2's transmit queue of 1000 packets (as the pipework script's had),
# the plugin's has none; the bridge pipework made carries our alias.
. "$(dirname "$0")/lib.sh"
cni_setup
G1=$(new_guest); G2=$(new_guest); N=$(new_guest)
for p in bridge pipework; do
    cat >"$CNI_DIR/$p.json" <<JSON
{"cniVersion": "1.0.0", "name": "side", "type": "$p", "bridge": "br$p", "hostif": "br$p",
 "ipam": {"type": "static", "addresses": [{"address": "10.62.0.5/24", "gateway": "10.62.0.1"}],
          "routes": [{"dst": "0.0.0.0/0"}, {"dst": "10.63.0.0/16", "gw": "10.62.0.9"}]}}
JSON
done
cni bridge ADD /proc/$G1/ns/net eth1 ref "$CNI_DIR/bridge.json" >"$CNI_DIR/ref.json" || fail "bridge plugin: $(cat "$CNI_DIR/ref.json")"
cni pipework ADD /proc/$G2/ns/net eth1 ours "$CNI_DIR/pipework.json" >"$CNI_DIR/ours.json" || fail "pipework: $(cat "$CNI_DIR/ours.json")"

# state GUEST RESULT: what must agree, with names, MACs, indexes and
# timers taken out. The host side is the one the result names.
state() {
    local g=$1 port bridge
    port=$(jq_ "$2" 'j["interfaces"][1]["name"]'); bridge=$(jq_ "$2" 'j["interfaces"][0]["name"]')
    { in_guest "$g" ip -d -o link show eth1; in_guest "$g" ip -o -4 addr show eth1; in_guest "$g" ip route show
      in_host ip -d -o link show "$port"; in_host ip -o link show "$bridge"
    } | sed -E "s/$port/PORT/g; s/$bridge/BR/g" |
        sed -E 's/[0-9a-f]{1,2}(:[0-9a-f]{1,2}){5}/MAC/g; s/^[0-9]+: /N: /; s/@if[0-9]+/@ifN/;
                s/link-netns(id)? [^ ]+/link-netns X/; s/ qlen [0-9]+/ /; s/[a-z_]+_timer +[0-9.]+//g;
                s/ +/ /g; s/ *\\ +alias .*//'
}
ref=$(state "$G1" "$CNI_DIR/ref.json"); ours=$(state "$G2" "$CNI_DIR/ours.json")
[ "$ref" = "$ours" ] || fail "kernel state differs from the bridge plugin's:
$(diff <(echo "$ref") <(echo "$ours"))"
note "ok: guest link, addresses, routes and bridge port as the bridge plugin makes them"

shape() { jq_ "$1" 'sorted((k, type(v).__name__, len(v) if isinstance(v, list) else None, sorted(v[0]) if isinstance(v, list) and v and isinstance(v[0], dict) else None) for k, v in j.items())'; }
[ "$(shape "$CNI_DIR/ref.json")" = "$(shape "$CNI_DIR/ours.json")" ] ||
    fail "result shapes differ:
$(cat "$CNI_DIR/ref.json") and ours: $(cat "$CNI_DIR/ours.json")"
for j in ref ours; do
    jq_ "$CNI_DIR/$j.json" '[sorted(i) for i in j["interfaces"]], [sorted(i.items()) for i in j["ips"]], [sorted(r.items()) for r in j["routes"]]' |
        sed -E 's/[0-9a-f]{2}(:[0-9a-f]{2}){5}/MAC/g' >"$CNI_DIR/$j.norm"
done
diff "$CNI_DIR/ref.norm" "$CNI_DIR/ours.norm" || fail "result contents differ (above)"
note "ok: the result has the bridge plugin's shape: interfaces, ips (interface 2), routes, dns"

# static IPAM is computed in-process; CNI_ARGS IP= (appended to the
# configured address) and the ips capability (replacing it) come out as the
# reference static plugin makes them.
G4=$(new_guest); G5=$(new_guest); G6=$(new_guest); G7=$(new_guest)
for p in bridge pipework; do
    python3 -c 'import json, sys; c = json.load(open(sys.argv[1])); c["runtimeConfig"] = {"ips": ["10.62.0.55/24"]}; print(json.dumps(c))' \
        "$CNI_DIR/$p.json" >"$CNI_DIR/$p-cap.json"
done
CNI_ARGS="IgnoreUnknown=1;IP=10.62.2.5/24" cni bridge ADD /proc/$G4/ns/net eth1 r4 "$CNI_DIR/bridge.json" >/dev/null || fail "bridge + CNI_ARGS"
CNI_ARGS="IgnoreUnknown=1;IP=10.62.2.5/24" cni pipework ADD /proc/$G5/ns/net eth1 o5 "$CNI_DIR/pipework.json" >/dev/null || fail "pipework + CNI_ARGS"
cni bridge ADD /proc/$G6/ns/net eth1 r6 "$CNI_DIR/bridge-cap.json" >/dev/null || fail "bridge + ips capability"
cni pipework ADD /proc/$G7/ns/net eth1 o7 "$CNI_DIR/pipework-cap.json" >/dev/null || fail "pipework + ips capability"
addrs() { in_guest "$1" ip -o -4 addr show eth1 | awk '{print $4}' | xargs; in_guest "$1" ip route show | sed -E 's/ +$//'; }
[ "$(addrs "$G4")" = "$(addrs "$G5")" ] && [ "$(addrs "$G4")" != "" ] || fail "CNI_ARGS IP=: '$(addrs "$G4")' vs ours '$(addrs "$G5")'"
[ "$(addrs "$G6")" = "$(addrs "$G7")" ] || fail "ips capability: '$(addrs "$G6")' vs ours '$(addrs "$G7")'"
note "ok: static IPAM with CNI_ARGS IP= ($(addrs "$G5" | head -1)) and the ips capability ($(addrs "$G7" | head -1)) as the plugin's"

# Both carry traffic, to a neighbour on each bridge.
G3=$(new_guest)
pipework brbridge "$N" 10.62.0.9/24
pipework brpipework "$G3" 10.62.0.9/24
ping_ok "$G1" 10.62.0.9
ping_ok "$G2" 10.62.0.9
tcp_ok "$G2" "$G3" 10.62.0.9

cni bridge DEL /proc/$G1/ns/net eth1 ref "$CNI_DIR/bridge.json" || fail "bridge plugin DEL"
cni pipework DEL /proc/$G2/ns/net eth1 ours "$CNI_DIR/pipework.json" || fail "pipework DEL"
for g in "$G1" "$G2"; do expect_not "DEL took eth1 from $g" "eth1" in_guest "$g" ip -o link; done
