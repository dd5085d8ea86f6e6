"""Compile a deploy artifact for SpiNNaker2 and show how it maps onto the chip.

Compiles the artifact's network into populations (a spike_list input source, one
lif_no_delay population per layer), int8 projections and a placement of neurons onto
processing elements (PEs) within the per-PE limits of deploy/chip.py; a network that does
not fit one chip is refused with the layer and the limit. --show-placement prints one line
per PE. With --target spinnaker2 the network is also built with py-spinnaker2 for the board
at --board-ip (nothing runs until `neuroq eval --backend spinnaker2`).

example:
  neuroq deploy runs/CartPole-v1/export-<time>/artifact --target emulator --show-placement
"""

from __future__ import annotations

import argparse

HELP = "compile an artifact for SpiNNaker2 (or its emulator) and show its placement"


class _NamedChoice(argparse.Action):
    """Stores the choice and the option's name as typed (--target or --backend), so that an
    error names the option the user gave (it said --target to a user of --backend)."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        namespace.target_option = option_string


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("artifact", help="deploy artifact folder (or its manifest.json)")
    p.set_defaults(target_option="--target")
    p.add_argument("--target", "--backend", dest="target", default="emulator",
                   choices=("emulator", "spinnaker2"), action=_NamedChoice,
                   help="emulator (default) or a SpiNNaker2 board (--backend: the same, as "
                        "neuroq eval and the nodes' backend parameter name it)")
    p.add_argument("--board-ip", default=None,
                   help="SpiNNaker2 board address (--target spinnaker2 only; refused with "
                        "the emulator)")
    p.add_argument("--show-placement", action="store_true", help="print one line per PE")
    p.add_argument("--show-constants", action="store_true",
                   help="print the chip constants table (value, unit, tag, source)")


def run(args: argparse.Namespace) -> int:
    from neuroq.agents.cli import checks
    from neuroq.deploy.artifact import load_artifact, say_artifact_warnings
    from neuroq.deploy.chip import constants_table_markdown
    from neuroq.deploy.compiler import compile_program, describe_limits

    art = load_artifact(args.artifact)
    say_artifact_warnings(art.manifest, "neuroq deploy")
    checks.board_ip(args.board_ip, args.target_option, args.target)
    prog = compile_program(art.network)
    net = art.network
    print(f"artifact {art.path}: {art.manifest.get('env_id')}, widths "
          f"{'-'.join(map(str, net.widths))}, T = {net.timesteps}")
    for pop, atoms in zip(prog.populations, prog.atoms_per_pe, strict=True):
        print(f"  population {pop.name:<8} {pop.neuron_model:<13} {pop.size:>5} neurons, "
              f"{len(prog.pes_of(pop.name))} PE(s) of <= {atoms}"
              + (f", records {', '.join(pop.record)}" if pop.record else ""))
    for pr in prog.projections:
        print(f"  projection {pr.pre} -> {pr.post}: {pr.n_synapses} int8 synapses "
              f"(non-zero), delay {pr.delay_steps} step")
    sram = sum(s.sram_bytes for s in prog.placement)
    print(f"  {prog.n_pes} of {prog.limits.n_pes} usable PEs, {sram} bytes of data SRAM")
    print(f"  {describe_limits(prog.limits)}")
    if args.show_placement:
        print(prog.placement_table())
    if args.show_constants:
        print(constants_table_markdown())
    if args.target == "spinnaker2":
        from neuroq.deploy.spinnaker2 import SpiNNaker2Runner

        SpiNNaker2Runner(prog, args.board_ip)
        print(f"  built the py-spinnaker2 network for the board at {args.board_ip}")
    return 0
