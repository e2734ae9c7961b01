import signal

import torch

# The scripts' networks are small MLPs: one intra-op thread is fastest, and with more the in-process
# training runs of the tests crawl when the machine's two cores are busy.
torch.set_num_threads(1)

# A suite started in the background by a script (`pytest ... &`, nohup) inherits Ctrl-C ignored, and so would
# every script the tests start: the Ctrl-C tests would meet a caller that ignores the signal (exit 130, not an
# end by SIGINT). Take Ctrl-C back, as pytest in a terminal has it; the scripts the tests start then get the
# default, as they do from a terminal.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
