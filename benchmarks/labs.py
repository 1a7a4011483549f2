"""Generated topologies for benchmarks: stars of N namespaces on one bridge in the host namespace, LANs behind
routers joined by a core router, and the same with a filtering core."""

from __future__ import annotations

from topograph.generators import star_yaml as star

__all__ = ["filtering_gateway", "routed", "star"]


def routed(n: int, lans: int = 30) -> str:
    """n namespaces on `lans` bridged LANs, each LAN behind its own router, routers joined by a core router
    that masquerades everything to an 'internet' namespace and forwards tcp/80 to a LAN host."""
    per = max(1, n // lans)
    lines = ["lab: routed", "nodes:", "  core:", "    forwarding: true", "    interfaces:"]
    lines += [f"      c{i}: 172.16.{i}.1/30" for i in range(lans)]
    lines += ["      wan0: 203.0.113.2/24", "    routes:"]
    lines += [f"      - {{to: 10.{i + 1}.0.0/16, via: 172.16.{i}.2}}" for i in range(lans)]
    lines += ["      - {to: default, via: 203.0.113.1}", "    nat: [{masquerade: 10.0.0.0/8, out: wan0}]",
              "    port_forwards: [{proto: tcp, port: 80, to: '10.1.0.12:80'}]",
              "  internet: {interfaces: {eth0: 203.0.113.1/24, lo: 198.51.100.8/32}}"]
    links = ["  - [core:wan0, internet:eth0]"]
    k = 0
    for i in range(lans):
        lines += [f"  r{i}:", "    forwarding: true", f"    bridges: {{lan{i}: 10.{i + 1}.0.1/16}}",
                  f"    interfaces: {{up0: 172.16.{i}.2/30}}", f"    routes: [{{to: default, via: 172.16.{i}.1}}]"]
        links.append(f"  - [r{i}:up0, core:c{i}]")
        for j in range(per if i < lans - 1 else n - per * (lans - 1)):
            host = 10 + j
            lines.append(f"  h{k}: {{interfaces: {{eth0: 10.{i + 1}.{host // 250}.{host % 250 + 2}/16}}, "
                         f"routes: [{{to: default, via: 10.{i + 1}.0.1}}]}}")
            links.append(f"  - [h{k}:eth0, lan{i}:p{j}]")
            k += 1
    return "\n".join([*lines, "links:", *links, ""])


def filtering_gateway(n: int, lans: int = 30) -> str:
    """routed(n, lans) with a stateful firewall in the core router: forward policy drop, established and related
    back in, per-LAN accepts (every other LAN may go anywhere, a few may reach one other LAN only), a reset and
    a reject for two LANs, the port forward's traffic allowed; input: pings and established only."""
    rules = ["{state: [established, related], action: accept}",
             "{to: 10.1.0.12, proto: tcp, dport: 80, action: accept}",
             "{from: 10.5.0.0/16, proto: tcp, action: reset}",
             "{to: 10.6.0.0/16, action: reject}"]
    rules += [f"{{from: 10.{i + 1}.0.0/16, action: accept}}" for i in range(0, lans, 2)]
    rules += [f"{{from: 10.{i + 1}.0.0/16, to: 10.{i}.0.0/16, action: accept}}" for i in range(1, lans, 4)]
    text = routed(n, lans).replace("lab: routed", "lab: filtering-gateway")
    chain = ["    filter:", "      forward:", "        policy: drop", "        rules:",
             *(f"          - {r}" for r in rules),
             "      input:", "        policy: drop", "        rules:",
             "          - {state: [established, related], action: accept}", "          - {proto: icmp, action: accept}"]
    return text.replace("  internet: {", "\n".join(chain) + "\n  internet: {", 1)
