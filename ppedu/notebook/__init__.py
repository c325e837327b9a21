"""What a student sees in a notebook: panels, figures, exercise checks (instructor tooling is in
``ppedu.instructor``; each notebook imports these through its chapter's ``ppedu.chapters`` facade).

    widgets/              the Run-button panels, one module per chapter's panel
    plots/                plotly figures, one module per subject
    checks/               the exercise checkers (graders with hints), one module per subject
    texts                 the sentences and figure titles the notebooks' code cells show, translated
    grading               the @grader contract: a one-line verdict, never an internal exception;
                          NotAnswered / Blank / answered / exercise for unanswered exercises
"""
