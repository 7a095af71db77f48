# Fuzz, end to end: input pipework refuses changes nothing. 250 cases from
# a fixed seed, mutations of valid command lines, one-line --batch files
# and CNI ADD/CHECK calls (stdin JSON and CNI_* environment), are run by
# the real binary against a test host (a Linux bridge, an Open vSwitch
# bridge, a NIC stand-in) and a guest. After each case that exits non-zero
# (refused as it was read, or failed and undone), the links, addresses,
# routes and rules of host and guest and the OVS Bridge/Port/Interface rows
# must be as before. A case that succeeds is detached, and the next case
# compares against the state after that. The in-process harness
# (src/commands/fuzz.rs) runs 10,000 cases per input for panics and error
# shapes; this one shows what the kernel sees.
#
# Safety: every case runs in a PID namespace of its own (a PID word can
# only name the runner, inside the test host), a mount namespace where
# /etc/resolv.conf is shielded and Docker's socket is /dev/null, with
# DOCKER_HOST, CONTAINER_HOST and CONTAINERD_ADDRESS pointing nowhere and a
# PATH that holds no engine CLI and no DHCP client (the generator uses no
# DHCP method either: 53 covers DHCP failures).
. "$(dirname "$0")/lib.sh"
start_ovs
G=$(new_guest); NAME=pwc-fuzz-$G
ip netns attach "$NAME" "$G"
on_exit "ip netns del $NAME"
for ns in "$HOST" "$NAME"; do
    # No duplicate address detection: an address never sits tentative, so a
    # snapshot needs no waiting for it.
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
done
in_host ip link add br57 type bridge
in_host ip link set br57 up
vsctl add-br ovs57 -- set Bridge ovs57 datapath_type=netdev
in_host ip link add nic57 type veth peer name nic57p
in_host ip link set nic57p up
# nic57 as a NIC no one set up yet (down, qdisc noop) with an alias: what
# a failed macvlan, ipvlan or --direct-phys on it must leave so.
in_host ip link set nic57 alias "uplink 57"
MAC=$(in_host cat /sys/class/net/nic57/address)
BIN=$(mktemp -d /tmp/pwfuzzbin.XXXXXX); on_exit "rm -rf $BIN"
for p in ip tc bridge ovs-vsctl sysctl sh; do ln -s "$(command -v "$p")" "$BIN/$p"; done
shield=$(mktemp); cp /etc/resolv.conf "$shield"; on_exit "rm -f $shield"
resolv_before=$(md5sum </etc/resolv.conf)
RUNNER=$(mktemp /tmp/pwfuzz.XXXXXX.py); on_exit "rm -f $RUNNER"
cat >"$RUNNER" <<'EOF'
import json, os, random, re, subprocess, sys, tempfile, time

pipework, guest_ns, mac, path = sys.argv[1:5]
G = "netns:" + guest_ns
rng = random.Random(57)
CASES = 250

NASTY = ["", "-", "--", "-i", "-a", "--mtu", "--sysctl", "--direct-phys", "--shim", "--detach",
         "--ipvlan", "--macvlan-mode", "--table", "--metric", "--replace", "pipework", "tunnel", "route",
         "rule", "tc", "@", "@0", "@1", "@4094", "@4095", "@65536", "@-1", "0/0", "slaac", "mac:",
         "mac:02:00:00:00:00:01", "U:", "U:web1", "10.57.0.1/24", "10.57.0.1/33", "10.57.0.9/24@10.57.0.254",
         "2001:db8::1/64", "::/0", "0.0.0.0/0", "255.255.255.255/32", "4294967296", "-1",
         "18446744073709551616", "'", '"', "\\", "#", "=", "a=b", ":", ",", "br57", "ovs57", "nic57", "lo",
         "ovs57@100-199", "averyveryverylongname", "\u00e9", "\u202e", "\t", "netns:x", "netns:../x",
         "web1", "%d", "eth%d", "eth1", "-i eth1", "1400", "65536", "0", "02:00:00:00:00:0g"]
LINES = [
    "br57 {G} 10.57.0.5/24",
    "br57 -i eth2 {G} 10.57.0.6/24@10.57.0.1 U:web1",
    "ovs57 --mtu 1400 {G} 10.57.1.5/24 @10",
    "ovs57 -i eth3 {G} 10.57.1.6/24@10.57.1.1 02:00:00:00:00:07@20",
    "nic57 --ipvlan l2 {G} 10.57.2.5/24",
    "--direct-phys nic57 {G} 10.57.2.6/24",
    "mac:{MAC} -i eth4 {G} 10.57.2.9/24",
    "br57 {G} 10.57.0.7/24,2001:db8::5/64 02:00:00:00:00:01",
    "br57 --sysctl net.ipv6.conf.eth1.accept_ra=2 --table 5 {G} 10.57.0.8/24",
    "br57 --txqueuelen 50 --promisc --hairpin {G} 10.57.0.10/24",
    "route {G} add 10.99.0.0/16 via 10.57.0.1",
    "tunnel br57 vxlan:100 192.0.2.1 192.0.2.2",
]
CNI = [
    {"cniVersion": "1.0.0", "name": "lan", "type": "pipework", "hostif": "br57",
     "address": "10.57.3.5/24@10.57.3.1", "mtu": 1400, "mac": "U:web"},
    {"cniVersion": "1.0.0", "name": "n", "type": "pipework", "hostif": "ovs57", "vlan": 7,
     "address": "10.57.4.5/24"},
    {"cniVersion": "1.1.0", "name": "n", "type": "pipework", "hostif": "br57", "address": "10.57.3.6/24",
     "prevResult": {"cniVersion": "1.1.0", "interfaces": [{"name": "eth0"}],
                    "ips": [{"address": "10.57.3.7/24", "gateway": "10.57.3.1", "interface": 0}],
                    "routes": [{"dst": "0.0.0.0/0"}]}},
    {"cniVersion": "1.0.0", "name": "n", "type": "pipework", "hostif": "nic57", "address": "2001:db8::5/64",
     "args": {"cni": {"ips": ["10.57.2.20/24"]}}},
]
CNI_KEYS = ["cniVersion", "name", "type", "hostif", "address", "vlan", "mtu", "mac", "prevResult",
            "runtimeConfig", "args", "guestif", "ips", "routes", "gateway", "interface"]

def mutate_words(line):
    w = line.split(" ")
    for _ in range(1 + rng.randrange(4)):
        i = rng.randrange(len(w))
        op = rng.randrange(8)
        if op in (0, 1):
            w[i] = rng.choice(NASTY)
        elif op == 2:
            w.insert(i, rng.choice(NASTY))
        elif op == 3 and len(w) > 1:
            del w[i]
        elif op == 4:
            w.insert(i, w[i])
        elif op == 5:
            j = rng.randrange(len(w)); w[i], w[j] = w[j], w[i]
        elif op == 6:
            cut = rng.randrange(len(w[i]) + 1)
            w[i] = w[i][:cut] if rng.randrange(2) else w[i][:cut] + rng.choice(NASTY)
        else:
            w[i] += rng.choice("@,/:=\"'\\-x9 ")
    return " ".join(w)

def nasty_value():
    return rng.choice([None, True, False, 0, -1, 4095, 65536, 2**63 - 1, 0.5, [], {},
                       [rng.choice(NASTY)], rng.choice(NASTY)])

def mutate_json(v, depth=0):
    if isinstance(v, dict) and v:
        k = rng.choice(sorted(v))
        op = rng.randrange(5)
        if op == 0:
            del v[k]
        elif op == 1:
            v[rng.choice(CNI_KEYS)] = nasty_value()
        elif op == 2 and depth < 4:
            v[k] = mutate_json(v[k], depth + 1)
        else:
            v[k] = nasty_value()
        return v
    if isinstance(v, list) and v and depth < 4:
        i = rng.randrange(len(v)); v[i] = mutate_json(v[i], depth + 1)
        return v
    return nasty_value()

# Placeholders are filled after mutation: the cases do not depend on the
# guest's name (a PID) or the NIC's MAC.
def fill(text):
    return text.replace("{G}", G).replace("{NS}", guest_ns).replace("{MAC}", mac)

BASE_ENV = {"PATH": path, "DOCKER_HOST": "unix:///nonexistent/docker.sock",
            "CONTAINER_HOST": "unix:///nonexistent/podman.sock",
            "CONTAINERD_ADDRESS": "/nonexistent/containerd.sock",
            "OVS_RUNDIR": os.environ["OVS_RUNDIR"], "OVS_DBDIR": os.environ["OVS_DBDIR"]}

def case():
    kind = rng.choice(["argv", "argv", "batch", "cni"])
    if kind == "cni":
        doc = json.loads(json.dumps(rng.choice(CNI)))
        for _ in range(1 + rng.randrange(3)):
            doc = mutate_json(doc)
        env = {"CNI_COMMAND": rng.choice(["ADD", "ADD", "ADD", "CHECK"]), "CNI_CONTAINERID": "fuzz57",
               "CNI_NETNS": "/var/run/netns/{NS}", "CNI_IFNAME": "net1", "CNI_PATH": "/nonexistent"}
        for _ in range(rng.randrange(3)):
            k = rng.choice(sorted(env))
            if rng.randrange(4) == 0:
                del env[k]
            else:
                env[k] = mutate_words(env[k])
        env = {k: fill(v) for k, v in env.items()}
        stdin = json.dumps(doc).encode()
        if rng.randrange(8) == 0:
            stdin = stdin[:rng.randrange(len(stdin))]
        return kind, [pipework], env, stdin
    line = rng.choice(LINES)
    if rng.randrange(6):
        line = mutate_words(line)
    line = fill(line)
    if kind == "batch":
        return kind, [pipework, "--batch", None], {}, line.encode()
    return kind, [pipework] + line.split(" "), {}, b""

def sh(*cmd, stdin=None):
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True, env=BASE_ENV).stdout

# One ip per namespace and one ovs-vsctl a look: starting processes is
# what costs (on a 2-core machine at load 25, 0.13 s each).
def snapshot():
    out = []
    for n in ([], ["-n", guest_ns]):
        # Both families, but for rules: IPv4's only (IPv6 rules would cost
        # one more ip a look).
        out.append(sh("ip", *n, "-o", "-batch", "-", stdin="link show\naddr show\nroute show table all\nrule show\n"))
    out.append(sh("ovs-vsctl", "--timeout=10", "--format=csv",
                  "--columns=name,ports,external_ids", "list", "Bridge", "--",
                  "--columns=name,tag,trunks,interfaces,external_ids", "list", "Port", "--",
                  "--columns=name,type,options,external_ids", "list", "Interface"))
    text = "\n".join(out)
    return re.sub(r"valid_lft \S+ preferred_lft \S+", "", text)

def settled():
    """The state once two looks 0.1 s apart agree (a bridge's carrier is
    settled by the kernel's link watcher after its last port went)."""
    last = snapshot()
    for _ in range(50):
        time.sleep(0.1)
        now = snapshot()
        if now == last:
            return now
        last = now
    return last

def detach_all():
    for line in sh("ip", "-n", guest_ns, "-o", "link", "show").splitlines():
        name = line.split(": ")[1].split("@")[0]
        if name != "lo":
            subprocess.run([pipework, "--detach", "-i", name, G], capture_output=True, env=BASE_ENV, timeout=30)

counts = {}
before = settled()
for n in range(CASES):
    kind, argv, env, stdin = case()
    with tempfile.NamedTemporaryFile() as f:
        if kind == "batch":
            f.write(stdin); f.flush(); argv[2] = f.name; stdin = b""
        try:
            r = subprocess.run(argv, input=stdin, capture_output=True, env={**BASE_ENV, **env}, timeout=30)
        except subprocess.TimeoutExpired:
            sys.exit(f"case {n} ({kind}) ran over 30 s: {argv!r} env={env!r} stdin={stdin!r}")
    # A passthrough (route, rule, tc) exits as ip or tc did: any status.
    if r.returncode < 0 or b"panicked" in r.stderr:
        sys.exit(f"case {n} ({kind}) died of a signal or panicked ({r.returncode}): {argv!r} env={env!r} "
                 f"stdin={stdin!r}\n{r.stderr.decode(errors='replace')}")
    ok = r.returncode == 0
    counts.setdefault(kind, [0, 0])[0 if ok else 1] += 1
    if ok:
        detach_all()
        before = settled()
        continue
    for _ in range(10):
        after = snapshot()
        if after == before:
            break
        time.sleep(0.1)
    else:
        import difflib
        diff = "\n".join(difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0))
        sys.exit(f"case {n} ({kind}) was refused (exit {r.returncode}) but changed the host:\n{diff}\n"
                 f"argv={argv!r}\nenv={env!r}\nstdin={stdin!r}\nstderr: {r.stderr.decode(errors='replace')}")
for kind, (acc, ref) in sorted(counts.items()):
    print(f"  ok: {kind}: {acc + ref} cases, {ref} refused with nothing changed, {acc} accepted (and detached)")
EOF
out=$(ip netns exec "$HOST" unshare -p -f -m --mount-proc sh -c '
    mount --bind "$1" /etc/resolv.conf
    [ -S /var/run/docker.sock ] && mount --bind /dev/null /var/run/docker.sock
    [ -d /run/containerd ] && mount -t tmpfs none /run/containerd
    exec python3 "$2" "$3" "$4" "$5" "$6"' sh "$shield" "$RUNNER" "$PIPEWORK_BIN" "$NAME" "$MAC" "$BIN" 2>&1) ||
    fail "$out"
echo "$out"
[ "$(md5sum </etc/resolv.conf)" = "$resolv_before" ] || fail "a case changed the host's /etc/resolv.conf"
