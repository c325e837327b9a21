"""What a rank computes, one list shared by training, serving and the lab (no torch here).

    timed   fixed waits (t_f, t_b, ... ms) that stand for the model's compute, like GPU kernels,
            while real tensors still travel: bubbles and schedules are measured faithfully on
            any CPU, however many ranks share it
    model   the tiny GPT (ppedu.model.gpt), real compute: gradients and tokens are checked
"""

WORKLOADS = ("timed", "model")
