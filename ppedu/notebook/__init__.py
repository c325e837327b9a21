"""What the notebooks show and grade.

    panel                 the one Run-button panel every chapter uses
    widgets               training and sweep panels (chapters 0, 2-4)
    widgets_tp            the TP-vs-PP panel (chapter 1)
    widgets_plan          the memory planner panel (chapter 3)
    widgets_serving       the serving panel (chapter 5)
    plots                 plotly figures: Gantt, bubble vs m, memory, schedules
    plots_memory          memory figures: bytes per GPU, activations
    plots_frontier        chapter 4's frontier: bubble, peak and messages per schedule
    plots_serving         serving figures
    plots_lab             chapter 6: the student's measured Gantt chart, bubble and memory beside theory
    exercises             graders with hints
    exercises_partition   notebook 02's stage-balancing exercise
    exercises_tp_serving  graders of chapters 1 and 5
    exercises_lab         chapter 6's warm-up prediction
    grading               the @grader contract: a one-line verdict, never an internal exception;
                          NotAnswered / Blank / answered / exercise for unanswered exercises
    student_copy          strip solution blocks, lock check cells, drop hidden checks (the student copy)
    headless              papermill runs with parameter checks (around nbclient #312)
    autograde             grade a class: the instructor's checks on each student's answers (ppedu grade)
    autograde_build       builds the two grading notebooks: the answer run and the check run
    answers               what `ppedu grade` runs in its kernels: answers by value, checker fingerprints
    sandbox               one submission's run: throwaway folder, limits, bubblewrap where it works
    book                  `make book`: figures + jupyter-book build into course-work/book/, MathJax offline
    book_server           a Jupyter server extension serving that book at /ppedu-book/
    book_figures          the book's measured figures
    book_tables           the book's computed blocks: rewrite them, or check them against the code
    book_blocks           the generators of those blocks, each calling the function that owns the formula
    book_check            the `ppedu` commands the book shows, for the test that runs them
    order_mistakes        the mistake in a hand-written rank order, in words (04)
    exercises_tables      02's repaired seed table (micro-batches 1-4)
"""
