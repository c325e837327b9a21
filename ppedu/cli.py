"""The ``ppedu`` command line. Each sub-command lives in ``ppedu/commands/<name>.py`` and exposes
``add_arguments(parser)`` and ``run(args) -> int``; its one-line help lives here, in ``_HELP``
(the one home: ``ppedu --help`` lists every command without importing any of them).

Bad input never produces a traceback: a UsageError (or an argparse error) prints one line naming
the parameter and its valid range and exits with status 2; a failed distributed job exits 1.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from ppedu.errors import ClusterError, UsageError
from ppedu.i18n.messages import N_, _, translate_argparse
from ppedu import __version__

# name -> module under ppedu.commands (imported lazily: `ppedu --help` must not import torch)
COMMANDS = {
    "doctor": "doctor",
    "simulate": "simulate",
    "validate": "validate",
    "train": "train",
    "plan": "plan",
    "compare-tp-pp": "compare_tp_pp",
    "serve-bench": "serve_bench",
    "serve-sweep": "serve_sweep",
    "student-copy": "student_copy",
    "run-notebook": "run_notebook",
    "grade": "grade",
}

_HELP = {
    "doctor": N_("check torch, backends, cores and GPUs; warn if -p would oversubscribe the CPU"),
    "simulate": N_("simulate a pipeline schedule and print its Gantt chart and bubble"),
    "validate": N_("check a hand-written schedule (Markdown table) and explain the first error"),
    "train": N_("run a pipeline schedule on real ranks and measure its bubble"),
    "plan": N_("plan a real model's layout: bytes per GPU (weights, grads, Adam, activations), bubble, fits"),
    "compare-tp-pp": N_("measure tensor vs pipeline parallel communication on real ranks"),
    "serve-bench": N_("benchmark static / dynamic / continuous batching on a PP inference server"),
    "serve-sweep": N_("goodput vs arrival rate under TTFT/TPOT targets: where the server saturates"),
    "student-copy": N_("write the course notebooks with solutions stripped"),
    "run-notebook": N_("run a course notebook headless with parameters (papermill, no widget stalls)"),
    "grade": N_("grade a class: the instructor's checks on each student's answers, one CSV row per exercise"),
}


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports errors on one line (no usage dump) and exits 2."""

    def error(self, message: str):  # noqa: D401 - argparse API
        self.exit(2, _("{prog}: error: {message} (see {prog} --help)").format(
            prog=self.prog, message=_one_line(message)) + "\n")


def _one_line(text: object) -> str:
    """An argument may hold a newline (``ppedu simulate $'\\n'``): echo it as ``\\n``."""
    return str(text).replace("\r", "\\r").replace("\n", "\\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="ppedu", description=_("Pipeline parallelism, measured. "
                                                          "Run `ppedu doctor` first."))
    parser.add_argument("--version", action="version", version=_version(),
                        help=_("show program's version number and exit"))
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    for name in COMMANDS:
        sub.add_parser(name, help=_(_HELP[name]), description=_(_HELP[name]), add_help=False)
    return parser


def _version() -> str:
    return f"ppedu {__version__}"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    translate_argparse()
    top = build_parser()
    if not argv or argv[0] in ("-h", "--help", "--version") or argv[0] not in COMMANDS:
        if argv and not argv[0].startswith("-") and argv[0] not in COMMANDS:
            top.error(_("unknown command {command}; choose one of {commands}").format(
                command=repr(argv[0]), commands=", ".join(COMMANDS)))
        top.parse_args(argv or ["--help"])
        return 0
    name = argv[0]
    module = importlib.import_module(f"ppedu.commands.{COMMANDS[name]}")
    parser = OneLineParser(prog=f"ppedu {name}", description=_(_HELP[name]))
    module.add_arguments(parser)
    args = parser.parse_args(argv[1:])
    try:
        return int(module.run(args) or 0)
    except UsageError as exc:
        print(_("{prog}: error: {message}").format(prog=f"ppedu {name}", message=_one_line(exc)), file=sys.stderr)
        return 2
    except ClusterError as exc:
        print(_("{prog}: failed: {message}").format(prog=f"ppedu {name}", message=exc), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(_("{prog}: interrupted").format(prog=f"ppedu {name}"), file=sys.stderr)
        return 130
    except BrokenPipeError:  # `ppedu simulate ... | head`: the reader left, nothing is wrong
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
