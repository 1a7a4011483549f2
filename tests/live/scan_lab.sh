#!/bin/bash
# A lab built by hand with ip and nft, every namespace named after $P (the test's prefix).
set -eu
P=$1
for n in a b r s; do ip netns add "${P}$n"; ip -n "${P}$n" link set lo up; done
ip -n "${P}r" link add br0 type bridge
ip -n "${P}r" addr add 10.1.0.1/24 dev br0
ip -n "${P}r" link set br0 up
for n in a b; do
  ip -n "${P}$n" link add eth0 type veth peer name "$n-port" netns "${P}r"
  ip -n "${P}r" link set "$n-port" master br0 up
  ip -n "${P}$n" link set eth0 up
done
ip -n "${P}a" addr add 10.1.0.2/24 dev eth0
ip -n "${P}b" addr add 10.1.0.3/24 dev eth0
ip -n "${P}a" route add default via 10.1.0.1
ip -n "${P}b" route add default via 10.1.0.1
ip -n "${P}b" route add default via 10.1.0.1 table 100      # policy routing the file cannot say: a note
ip -n "${P}b" rule add from 10.1.0.3 lookup 100 priority 100
ip -n "${P}r" link add up0 type veth peer name eth0 netns "${P}s"
ip -n "${P}r" addr add 203.0.113.1/24 dev up0
ip -n "${P}r" link set up0 up
ip -n "${P}s" addr add 203.0.113.2/24 dev eth0
ip -n "${P}s" addr add 198.51.100.8/32 dev lo
ip -n "${P}s" link set eth0 up
ip netns exec "${P}r" sysctl -qw net.ipv4.ip_forward=1
for t in iptables ip6tables arptables; do   # bridged frames skip the filter, as the format assumes
  if [ -e "/proc/sys/net/bridge/bridge-nf-call-$t" ]; then ip netns exec "${P}r" sysctl -qw "net.bridge.bridge-nf-call-$t=0"; fi
done
ip netns exec "${P}r" nft -f - <<'NFT'
table ip mynat {
  chain post { type nat hook postrouting priority 100; ip saddr 10.1.0.0/24 oifname "up0" masquerade; }
}
table inet myfw {
  chain fw_forward { type filter hook forward priority 0; policy drop;
    ct state established,related accept
    iifname "br0" oifname "up0" accept
  }
  chain fw_input { type filter hook input priority 0; policy accept;
    counter
    iifname "up0" ip protocol icmp drop
  }
}
NFT
