"""`ppedu grade`: grade a class, the instructor's checks run on each student's answers.

    grade                 grade_notebook: the two runs per submission, scored per exercise
    notebooks             builds the two grading notebooks: the answer run and the check run
    answers               what runs in the grading kernels: answers by value, checker fingerprints
    sandbox               one submission's run: throwaway folder, limits, bubblewrap where it works
    feedback              why a check failed (by kind, never by its words) and the student's message,
                          in the submission's language (metadata ppedu_lang, else PPEDU_LANG)
"""
