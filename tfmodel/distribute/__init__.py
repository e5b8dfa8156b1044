"""Where training runs: the tf.distribute strategy and the hardware it spans, top to bottom.

- `strategies`: `--strategy auto|cpu|gpu|tpu|mirrored|multi_worker` → a tf.distribute strategy
- `cluster`: TF_CONFIG for multi-worker training from `--worker-hosts`/`--task-index`
- `inventory`: what hardware this process can use (TensorFlow's devices, a TPU's answer)
- `devices`: accelerators found on the PCI bus (TPUs, GPUs, NPUs), without TensorFlow
"""
