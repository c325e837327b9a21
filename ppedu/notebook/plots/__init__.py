"""The notebooks' plotly figures (titles, axes with units, legends).

    training              training runs: Gantt, bubble vs m, memory, schedules, step time; bar and line charts
    memory                memory figures: bytes per GPU, activations
    frontier              chapter 4's frontier: bubble, peak and messages per schedule
    serving               serving figures (chapter 5)
    lab                   chapter 6: the student's measured Gantt chart, bubble and memory beside theory
"""
