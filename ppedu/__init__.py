"""ppedu: pipeline parallelism for LLMs, taught by running real pipelines and measuring them.

Folders, one layer of the course each:
    runtime/          real torch.distributed ranks, messages, timeouts
    schedules/        schedules as data, validator, simulator, theory, timelines (no torch)
    planner/          memory and bubble plans for real models (no torch)
    model/            the tiny GPT, KV cache, partition, corpus
    training/         pipeline training on real ranks
    tensor_parallel/  Megatron TP layers and the TP-vs-PP comparison (chapter 1)
    serving/          a pipeline-parallel inference server (chapter 5)
    lab/              chapter 6: the student's own pipeline step, run and graded on real ranks
    notebook/         what a student sees: panels, plots, exercise checks
    chapters/         one facade per notebook: everything that notebook imports, from one place
    instructor/       student copy, headless runs, grading a class, the book
    commands/         one module per `ppedu` sub-command
    i18n/             the Chinese edition: message catalogs, notebook translations kept current
    assets/           the corpus and the example schedule tables

Modules:
    cli               the `ppedu` command line: dispatches to commands/, one help line each
    errors            UsageError (bad input, one line) and ClusterError, the check_* helpers
    unanswered        an exercise not answered yet (NotAnswered, Blank) and what `ppedu grade` changes
"""

__version__ = "0.1.0"
