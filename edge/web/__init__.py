"""The edge page: MediaPipe Tasks for Web classifies a picture with a `.tflite`, in any browser.

Top to bottom:
    index.html      the page: a file picker (a phone offers its camera), the top label and score
    classify.js     its module: MediaPipe's ImageClassifier on the CPU; DOM markers for scripts
    server.py       `python -m edge.web MODEL`: the page, MediaPipe's WASM and the model, one origin
    check.mjs       `node edge/web/check.mjs URL IMAGE...`: the page in headless Chromium, as JSON
    package.json    @mediapipe/tasks-vision and playwright-core, pinned (`make web` runs `npm ci`)
The model needs the TFLite metadata `edge.optimize` writes (labels, normalization); the page has
no code of its own for either. Nothing here imports TensorFlow.
"""
