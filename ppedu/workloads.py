"""The two things a rank can compute, shared by training, serving and the lab (one list).

    timed   fixed waits (t_f, t_b, ... ms), like GPU kernels, while real tensors still travel:
            bubbles and schedules are measured faithfully on any CPU, however many ranks share it
    model   the tiny GPT (ppedu.model.gpt), real compute: gradients and tokens are checked
"""

WORKLOADS = ("timed", "model")
