"""The course book (course/, Jupyter Book) with its measured figures and computed numbers.

    build                 `make book`: figures + jupyter-book build into course-work/book/, MathJax offline
    server                a Jupyter server extension serving that book at /ppedu-book/
    figures               the book's measured figures
    tables                the book's computed blocks: rewrite them, or check them against the code
    blocks                the generators of those blocks, each calling the function that owns the formula
    sizes                 the generators counting real models' bytes and parameters (the planner)
    check                 the `ppedu` commands the book shows, for the test that runs them
"""
