// Shows the degradation scores a node returned (its `ui.text` lines) as read-only text on the node itself.
//
// The Estimate, Restore and Preview nodes return `ui={"text": [one line per image]}`; ComfyUI's frontend hands that
// dict to the node's onExecuted when the `executed` message arrives. Without this file the numbers reach only the
// API history, so a user choosing knobs by eye never sees the estimate.
import { app } from "../../../scripts/app.js";

const NODES_WITH_SCORES = new Set(["MMRealSREstimateDegradation", "MMRealSRRestore", "MMRealSRPreview"]);
const WIDGET_NAME = "mmrealsr_scores";
const LINE_HEIGHT = 16;
const PADDING = 8;
const MARGIN = 4; // around the text box inside the widget's slot (the frontend's default is 10)
const SIDE_PADDING = 6;
const FONT = "12px monospace";
const measure = document.createElement("canvas").getContext("2d");

/** The read-only text widget, created on the first result so nodes that never ran keep their size. */
function scoresWidget(node) {
  const existing = node.widgets?.find((w) => w.name === WIDGET_NAME);
  if (existing) {
    return existing;
  }
  const element = document.createElement("div");
  element.className = "mmrealsr-scores";
  Object.assign(element.style, {
    whiteSpace: "pre",
    overflow: "hidden",
    font: FONT,
    lineHeight: `${LINE_HEIGHT}px`,
    padding: `${PADDING / 2}px ${SIDE_PADDING}px`,
    boxSizing: "border-box",
    color: "var(--input-text, #ddd)",
    background: "var(--comfy-input-bg, #222)",
    borderRadius: "4px",
    pointerEvents: "none",
  });
  const height = () => Math.max(1, element.textContent.split("\n").length) * LINE_HEIGHT + PADDING + 2 * MARGIN;
  const widget = node.addDOMWidget(WIDGET_NAME, "mmrealsr-scores", element, {
    getValue: () => element.textContent,
    setValue: (value) => {
      element.textContent = value;
    },
    getMinHeight: height,
    getMaxHeight: height,
    margin: MARGIN,
    hideOnZoom: false,
    serialize: false, // not a node input: kept out of the queued prompt
  });
  widget.serialize = false; // a result, not a setting: kept out of the saved workflow's widgets_values
  return widget;
}

/** Sets the text and grows the node (never shrinks it) so every line shows in full. */
function showScores(node, lines) {
  scoresWidget(node).value = lines.join("\n");
  measure.font = FONT;
  const textWidth = Math.max(...lines.map((line) => measure.measureText(line).width));
  const [width, height] = node.computeSize();
  const wanted = Math.ceil(textWidth) + 2 * (SIDE_PADDING + MARGIN) + 4;
  node.setSize([Math.max(node.size[0], width, wanted), Math.max(node.size[1], height)]);
  node.setDirtyCanvas(true, true);
}

app.registerExtension({
  name: "mmrealsr.scores",
  nodeCreated(node) {
    if (!NODES_WITH_SCORES.has(node.constructor.comfyClass)) {
      return;
    }
    const previous = node.onExecuted;
    node.onExecuted = function (output) {
      previous?.apply(this, arguments);
      if (Array.isArray(output?.text)) {
        showScores(this, output.text);
      }
    };
  },
});
