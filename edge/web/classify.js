// The edge page's module: MediaPipe Tasks for Web classifies a picture with the .tflite served as
// model.tflite (its TFLite metadata gives the labels, image size and normalization), on the CPU.
//
// Query string: ?image=URL classifies that (same-origin) picture on load; ?model=URL another model.
// Markers a script reads: #status[data-state] is "ready" or "error" once the model loaded or not;
// #result gets data-source (the picture's name) with data-label, data-index and data-score, or
// data-error, each time a picture is classified.
import { FilesetResolver, ImageClassifier } from "./tasks-vision/vision_bundle.mjs";

const params = new URLSearchParams(location.search);
const status = document.getElementById("status");
const picker = document.getElementById("picture");
const result = document.getElementById("result");
const preview = document.getElementById("preview");

async function createClassifier(modelUrl) {
  const wasmDir = new URL("tasks-vision/wasm", location.href).href; // served here: no CDN
  const fileset = await FilesetResolver.forVisionTasks(wasmDir);
  return ImageClassifier.createFromOptions(fileset, {
    baseOptions: { modelAssetPath: modelUrl, delegate: "CPU" },
    runningMode: "IMAGE",
    maxResults: 1,
  });
}

function show(source, fields) {
  for (const key of Object.keys(result.dataset)) delete result.dataset[key];
  Object.assign(result.dataset, { source, ...fields });
  result.textContent = fields.error
    ? `error: ${fields.error}`
    : `${fields.label}: ${(fields.score * 100).toFixed(1)} %`;
}

async function classify(source, blob) {
  try {
    const classifier = await classifierReady;
    preview.src = URL.createObjectURL(blob);
    // No colour management: the model sees the file's pixels, as edge.device's loader does.
    const bitmap = await createImageBitmap(blob, { colorSpaceConversion: "none" });
    const best = classifier.classify(bitmap).classifications[0].categories[0];
    bitmap.close();
    show(source, { label: best.categoryName, index: best.index, score: best.score });
  } catch (err) {
    show(source, { error: String(err?.message ?? err) });
  }
}

const classifierReady = createClassifier(params.get("model") ?? "model.tflite");
classifierReady.then(
  () => {
    status.dataset.state = "ready";
    status.textContent = "Pick a picture (or take a photo).";
    picker.disabled = false;
  },
  (err) => {
    status.dataset.state = "error";
    status.textContent = `The model did not load: ${err?.message ?? err}`;
  },
);

picker.addEventListener("change", () => {
  const file = picker.files[0];
  if (file) classify(file.name, file);
});

const imageUrl = params.get("image");
if (imageUrl) {
  fetch(imageUrl)
    .then((response) => {
      if (!response.ok) throw new Error(`${imageUrl}: HTTP ${response.status}`);
      return response.blob();
    })
    .then((blob) => classify(imageUrl, blob), (err) => show(imageUrl, { error: String(err) }));
}
