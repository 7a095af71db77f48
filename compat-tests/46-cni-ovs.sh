# pipework as a CNI plugin on Open vSwitch: "vlan" is the port's access tag,
# the Interface row carries the container ID, the network and the interface;
# a DEL after the namespace is gone still removes the row; GC (CNI 1.1)
# removes the rows of attachments the runtime no longer lists; ovsdb not
# answering is "try again later" (11).
. "$(dirname "$0")/lib.sh"
cni_setup
G1=$(new_guest); G2=$(new_guest); G3=$(new_guest); G4=$(new_guest)
conf() { # FILE VLAN ADDRESS
    cat >"$CNI_DIR/$1" <<JSON
{"cniVersion": "1.1.0", "name": "tenants", "type": "pipework", "hostif": "ovscni", "vlan": $2, "address": "$3"}
JSON
}
conf a.json 100 10.64.0.1/24; conf b.json 100 10.64.0.2/24; conf c.json 200 10.64.0.3/24; conf d.json 100 10.64.0.4/24

# No Open vSwitch answering yet: a transient condition, said so.
before=$(snapshot "$G1")
PIPEWORK_OVS_DB=unix:$CNI_DIR/no-db.sock cni_fails 11 "ADD while ovsdb does not answer" \
    cni pipework ADD /proc/$G1/ns/net eth1 ca "$CNI_DIR/a.json"
same_as_before "$G1" "$before" "and it left nothing"
PIPEWORK_OVS_DB=unix:$CNI_DIR/no-db.sock cni_fails 50 "STATUS while ovsdb does not answer" \
    cni pipework STATUS "" "" "" "$CNI_DIR/a.json"

start_ovs
cni pipework ADD /proc/$G1/ns/net eth1 ca "$CNI_DIR/a.json" >"$CNI_DIR/ra.json" || fail "ADD: $(cat "$CNI_DIR/ra.json")"
# An ADD runs no program but the plugin itself.
expect_one_exec "a CNI ADD onto OVS" in_host env CNI_COMMAND=ADD CNI_NETNS=/proc/$G2/ns/net CNI_IFNAME=eth1 \
    CNI_CONTAINERID=cb CNI_PATH="$CNI_PATH_DIRS" -- <"$CNI_DIR/b.json"
cni pipework ADD /proc/$G3/ns/net eth1 cc "$CNI_DIR/c.json" >/dev/null || fail "ADD c"
cni pipework ADD /proc/$G4/ns/net eth1 cd "$CNI_DIR/d.json" >/dev/null || fail "ADD d"
port=$(jq_ "$CNI_DIR/ra.json" 'j["interfaces"][1]["name"]')
expect "the port has access tag 100" '^100$' vsctl get Port "$port" tag
expect_extids "$port" pipework.containerid=ca pipework.cni.network=tenants pipework.cni.ifname=eth1 pipework.vlan=100
[ "$(jq_ "$CNI_DIR/ra.json" 'j["interfaces"][0]["name"], j["interfaces"][2]["mtu"]')" = "('ovscni', 1500)" ] ||
    fail "result: $(cat "$CNI_DIR/ra.json")"
ping_ok "$G1" 10.64.0.2
tcp_ok "$G1" "$G2" 10.64.0.2
ping_fails "$G3" 10.64.0.1
ping_fails "$G1" 10.64.0.3

# The namespace goes first (the runtime killed the container), then DEL.
gone() { kill -9 "$1"; for i in $(seq 100); do [ -e "/proc/$1" ] || return 0; sleep 0.05; done; fail "$1 did not die"; }
portb=$(vsctl --bare --columns=name find Interface external-ids:pipework.containerid=cb)
gone "$G2"
expect "the row outlives the namespace" "^$portb\$" vsctl list-ports ovscni
cni pipework DEL /proc/$G2/ns/net eth1 cb "$CNI_DIR/b.json" || fail "DEL after the namespace went"
expect_not "DEL removed its row" "^$portb\$" vsctl list-ports ovscni

# GC: G3 and G4 died without a DEL; the runtime lists only ca and cd as
# valid. cc's row goes, cd's and ca's stay; a port of the command line stays.
G5=$(new_guest)
pipework ovscni "$G5" 10.64.0.5/24 @100
gone "$G3"; gone "$G4"
portc=$(vsctl --bare --columns=name find Interface external-ids:pipework.containerid=cc)
portd=$(vsctl --bare --columns=name find Interface external-ids:pipework.containerid=cd)
python3 -c 'import json, sys
c = json.load(open(sys.argv[1])); c["cni.dev/valid-attachments"] = [{"containerID": "ca", "ifname": "eth1"}, {"containerID": "cd", "ifname": "eth1"}]
print(json.dumps(c))' "$CNI_DIR/a.json" >"$CNI_DIR/gc.json"
cni pipework GC "" "" "" "$CNI_DIR/gc.json" || fail "GC failed"
ports=$(vsctl list-ports ovscni | sort | xargs)
want=$(printf '%s\n' "$port" "$portd" "veth1pl$G5" | sort | xargs)
[ "$ports" = "$want" ] || fail "after GC the ports are '$ports', not '$want' (cc's was $portc)"
note "ok: GC removed only the attachment the runtime no longer lists"
ping_ok "$G1" 10.64.0.5
cni pipework STATUS "" "" "" "$CNI_DIR/a.json" || fail "STATUS with OVS up failed"
note "ok: STATUS is ready with Open vSwitch answering"
