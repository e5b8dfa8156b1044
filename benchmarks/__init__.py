"""Speed benchmarks, each against the baseline a user would otherwise reach for.

    python -m benchmarks.run [--quick]      # every benchmark, one table of ratios, RESULTS.md

results          the machine line, Markdown tables, a figure against its goal, RESULTS.md sections
training_speed   tfmodel.train's pipeline vs plain `model.fit(x, y)`, examples/s and accuracy
training_mobilenet  the same on MobileNetV2 α 0.35 96×96, in float32, mixed bfloat16 and XLA
optimizer_speed  the project's SGD, Adam and RMSprop vs tf_keras' built-ins, steps/s
interpreters     the same .tflite under every installed TFLite interpreter
edge_sizes       file size, latency per thread count, init time and memory of every edge variant
edge_calls       one example through predict(), invoke(), Keras model.predict and the SavedModel
edge_encryption  load time of encrypted ÷ plain .tflite files (digits MLP, MobileNetV2 0.35)
serving_speed    gRPC and REST through the local server vs an in-process call, batching off/on
serving_model_cost  the same on MobileNetV2 96×96 and 224×224, pixels and JPEG, batching tuned
serving_load     the client threads both serving benchmarks drive the server with
client_start     cold `import serving.client` and a cold `python -m serving.client predict`
edge_mobilenet   MobileNetV2 α 0.35 by every int8 route against float32
tflite_anatomy   a .tflite's bytes by kind and XNNPACK's partitions, for edge_mobilenet
input_pipeline   an image folder decoded and resized, ours vs Keras' folder reader
training_photos  training on an image folder vs the plain Keras script, and peak memory
run              runs them all in one process
"""
