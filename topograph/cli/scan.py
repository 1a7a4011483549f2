"""`topograph scan`: the namespaces that exist -> a topology file on stdout (read only)."""

from __future__ import annotations

import click

from topograph.cli.common import abort, sandbox_option
from topograph.front.quoting import quote


@click.command("scan")
@sandbox_option
@click.option("--netns", "names", multiple=True, metavar="NAME", help="scan this namespace (repeatable)")
@click.option("--all", "every", is_flag=True, help="scan every namespace in /run/netns")
@click.option("--with-host", is_flag=True, help="also scan this machine's own namespace, as the node 'host'")
@click.option("--pid", "pids", multiple=True, type=click.IntRange(min=1), metavar="PID",
              help="scan process PID's namespace (e.g. a container's; repeatable)")
@click.option("--lab", metavar="NAME", default=None, help="the lab's name (default: the mark topograph left "
              "on the namespaces, else 'scan')")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), default=None,
              help="write the file here instead of to standard output")
def command(prefix: str | None, names: tuple[str, ...], every: bool, with_host: bool, pids: tuple[int, ...],
            lab: str | None, output: str | None) -> None:
    """Read namespaces that exist and write them as a topology file: `topograph scan --sandbox t1- > lab.yml`.

    Reads only (netlink dumps, /proc/sys, `nft -j list ruleset`): interfaces, veth pairs, bridges, addresses,
    main-table routes, forwarding and rp_filter, NAT and filter rules. With --sandbox PREFIX every namespace
    named PREFIX* becomes the node named after the rest (one that topograph's mark gives to another sandbox,
    e.g. t1-r's t1-rred under --sandbox t1-, is left out, with a warning). What the file cannot say (other
    routing tables, policy rules, rules of other forms) is written as `# scan:` comments and warned about on stderr.
    """
    from topograph.cli.live import require_privileges
    from topograph.front.names import lab_name_problem
    from topograph.live.kernel import KernelError, Namespaces
    from topograph.scan.build import build_document
    from topograph.scan.read import scan
    from topograph.scan.targets import ScanError, choose
    from topograph.scan.write import write

    if lab is not None and lab_name_problem(lab):
        raise click.BadParameter(f"{quote(lab)} {lab_name_problem(lab)}", param_hint="--lab")
    require_privileges()
    ns = Namespaces()
    try:
        chosen = choose(ns, prefix=prefix, names=names, every=every, with_host=with_host, pids=pids)
        scanned = scan(chosen.targets, ns, lab or "scan")
    except ScanError as exc:
        abort(str(exc))
    except KernelError as exc:
        abort(f"cannot read the namespaces: {exc.strerror}")
    finally:
        ns.close()
    built = build_document(scanned, lab)
    words = ["topograph scan"] + ([f"--sandbox {prefix}"] if prefix else []) + [f"--netns {n}" for n in names] \
        + (["--all"] if every else []) + (["--with-host"] if with_host else []) + [f"--pid {p}" for p in pids]
    text = write(built, "written by " + " ".join(words))
    for warning in [*chosen.notes, *built.warnings]:
        click.echo(f"warning: {warning}", err=True)
    if output is None:
        click.echo(text, nl=False)
    else:
        try:
            with open(output, "w") as out:
                out.write(text)
        except OSError as exc:
            abort(f"cannot write {output}: {exc.strerror}")
