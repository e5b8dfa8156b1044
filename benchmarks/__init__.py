"""Speed benchmarks, each against the baseline a user would otherwise reach for, measured in turns
in one run (`python -m benchmarks.run`); results kept as data (results.json), rendered into
RESULTS.md (`python -m benchmarks.results`).

run              runs the benchmarks, prints each, records full runs
harness          the alternating-rounds loop every benchmark times its sides with
results          Figure, Table, Result; the machine line; results.json ↔ RESULTS.md
training_speed   tfmodel.train's fit vs plain `model.fit`: digits, MNIST, MobileNetV2; the command
training_photos  the same on an image folder vs the plain script, tf_keras and Keras 3
stage_memory     peak memory and wall time of train and edge.optimize as the folder grows 10×
optimizer_speed  the project's SGD, Adam and RMSprop vs tf_keras' built-ins, steps/s
input_pipeline   images/s of our image-folder reader vs Keras' `image_dataset_from_directory`
edge_calls       predict() and invoke() under every TFLite interpreter, Keras, the SavedModel
edge_sizes       size, latency, start-up and memory of every edge variant of a 784-input MLP
edge_encryption  load time of encrypted ÷ plain .tflite files
edge_mobilenet   MobileNetV2's int8 routes vs float32: accuracy, size, latency, anatomy
edge_optimize    edge.optimize float32 + int8 ÷ the plain convert-calibrate-evaluate script
serving_load     the model server started on free ports, client threads over gRPC and REST
serving_speed    the local server (gRPC, REST) vs in-process, batching off and on
client_start     cold import and cold predict round trip of the serving client
"""
