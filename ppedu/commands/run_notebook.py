"""``ppedu run-notebook NOTEBOOK OUT [-p NAME VALUE ...]``: run a course notebook headless with
bigger (or smaller) parameters, e.g. on a GPU node: ``-p p 8 -p m 32 -p backend nccl``. Values are
read as Python literals (numbers, lists, True) and otherwise kept as strings."""

from __future__ import annotations

import argparse
import ast
import sys

from ppedu.errors import check_float
from ppedu.instructor.headless import run_notebook
from ppedu.i18n.messages import _


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("notebook", help=_("e.g. notebooks/03_micro_batches.ipynb"))
    parser.add_argument("out", help=_("where to write the executed notebook"))
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[],
                        metavar=("NAME", "VALUE"), help=_("override a parameter (repeatable)"))
    parser.add_argument("--timeout", type=float, default=600.0,
                        help=_("seconds one cell may take (default 600)"))
    parser.add_argument("--kernel", default=None, help=_("Jupyter kernel name (default: the notebook's)"))


def _literal(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def run(args: argparse.Namespace) -> int:
    import papermill as pm


    check_float("--timeout", args.timeout, 1.0, 86400.0)
    params = {name: _literal(value) for name, value in args.parameter}
    print(_("running {notebook} with {params} ...").format(notebook=args.notebook, params=params or _('its own parameters')), file=sys.stderr)
    try:
        out = run_notebook(args.notebook, args.out, params, kernel_name=args.kernel,
                           timeout_s=args.timeout)
    except pm.PapermillExecutionError as exc:
        print(_("ppedu run-notebook: failed in cell {cell_index}: {ename}: {evalue}").format(cell_index=exc.cell_index, ename=exc.ename, evalue=exc.evalue),
              file=sys.stderr)
        return 1
    print(out)
    return 0
