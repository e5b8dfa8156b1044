"""TF Serving's request and response messages, imported in one place for the client and the server.

Both sides speak the same `tensorflow_serving.apis` protos for the five calls (predict, classify,
regress, model metadata, model status); `from serving import apis` gives them as
`apis.PredictRequest` and so on, so the client's transports and the server's REST front end name
them alike.
"""

from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_pb2,
    predict_pb2,
    regression_pb2,
)

ModelSpec = model_pb2.ModelSpec
PredictRequest = predict_pb2.PredictRequest
PredictResponse = predict_pb2.PredictResponse
ClassificationRequest = classification_pb2.ClassificationRequest
ClassificationResponse = classification_pb2.ClassificationResponse
RegressionRequest = regression_pb2.RegressionRequest
RegressionResponse = regression_pb2.RegressionResponse
GetModelMetadataRequest = get_model_metadata_pb2.GetModelMetadataRequest
GetModelMetadataResponse = get_model_metadata_pb2.GetModelMetadataResponse
SignatureDefMap = get_model_metadata_pb2.SignatureDefMap
GetModelStatusRequest = get_model_status_pb2.GetModelStatusRequest
GetModelStatusResponse = get_model_status_pb2.GetModelStatusResponse
ModelVersionStatus = get_model_status_pb2.ModelVersionStatus
