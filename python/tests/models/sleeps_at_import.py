import time

import torch.nn as nn

while True:
    try:
        time.sleep(1000)
    except Exception:
        pass


class Never(nn.Module):
    pass
