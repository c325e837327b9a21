"""What the notebooks show and grade.

    panel            the one Run-button panel every chapter uses
    widgets          training and sweep panels (chapters 0, 2-4)
    widgets_tp       the TP-vs-PP panel (chapter 1)
    widgets_serving  the serving panel (chapter 5)
    plots            plotly figures: Gantt, bubble vs m, memory, schedules
    plots_serving    serving figures
    plots_lab        chapter 6: the student's measured Gantt chart, bubble and memory beside theory
    exercises        graders with hints (exercises_lab: chapter 6, grading: the @grader contract,
                     NotAnswered / Blank / answered / exercise for unanswered exercises)
    student_copy     strip solution blocks, lock check cells, drop hidden checks (the student copy)
    headless         papermill runs with parameter checks (around nbclient #312)
    autograde        grade a class: the instructor's checks on each student's answers (ppedu grade)
    answers          what `ppedu grade` runs in its kernels: answers by value, checker fingerprints
    sandbox          one submission's run: throwaway folder, limits, bubblewrap where it works
"""
