import torch

# The scripts' networks are small MLPs: one intra-op thread is fastest, and with more the in-process
# training runs of the tests crawl when the machine's two cores are busy.
torch.set_num_threads(1)
