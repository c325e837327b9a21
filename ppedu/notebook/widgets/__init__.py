"""The notebooks' Run-button panels (ipywidgets); each callback is a plain function tests call.

    panel                 the one Run-button panel every chapter uses, and what panels share
    training              training and sweep panels (chapters 0, 2-4)
    tp                    the TP-vs-PP panel (chapter 1)
    plan                  the memory planner panel (chapter 3)
    serving               the serving panel (chapter 5)
"""
