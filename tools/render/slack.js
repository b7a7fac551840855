// A minimal renderer of the Slack Block Kit blocks Tripline sends (window.SLACK_PAYLOAD, the golden
// file notify/testdata/slack.golden.json): header, section (text and fields), context, divider and
// actions (buttons), with Slack mrkdwn (*bold*, _italic_, ~strike~, `code`, ```pre```, <url|links>,
// the &amp; &lt; &gt; escapes). Slack has no offline renderer: this is an approximation of its
// message view, not Slack's code. Any other block or element type is an error, so the picture never
// silently drops something Tripline sends.
"use strict";

const esc = (s) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
// Slack sends text with only &, < and > escaped; show them as the characters they stand for.
const unescapeSlack = (s) => s.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");

// Emphasis opens after start/space/punctuation and closes before end/space/punctuation, and never
// inside a word (so snake_case_names stay as they are), like Slack.
const before = "(^|[\\s>(\\[{\"'.,;:!?\\-])";
const after = "(?=$|[\\s<)\\]}\"'.,;:!?\\-])";
const emphasis = (mark, tag) =>
  [new RegExp(before + "\\" + mark + "([^\\s" + mark + "](?:[^" + mark + "\\n]*?[^\\s" + mark + "])?)\\" + mark + after, "g"),
   "$1<" + tag + ">$2</" + tag + ">"];
const emphases = [emphasis("*", "b"), emphasis("_", "i"), emphasis("~", "s")];

function inline(raw) {
  let html = esc(unescapeSlack(raw));
  for (const [re, rep] of emphases) html = html.replace(re, rep);
  return html.replace(/\n/g, "<br>");
}

function link(inner) {
  const bar = inner.indexOf("|");
  const target = bar < 0 ? inner : inner.slice(0, bar);
  const label = bar < 0 ? "" : inner.slice(bar + 1);
  if (target.startsWith("@")) return '<span class="mention">@' + esc(unescapeSlack(label || target.slice(1))) + "</span>";
  if (target.startsWith("#")) return '<span class="mention">#' + esc(unescapeSlack(label || target.slice(1))) + "</span>";
  if (target.startsWith("!")) return '<span class="mention">@' + esc(unescapeSlack(label || target.slice(1).split("^")[0])) + "</span>";
  return '<a href="' + esc(unescapeSlack(target)) + '">' + (label ? inline(label) : esc(unescapeSlack(target))) + "</a>";
}

function mrkdwn(text) {
  const re = /```([\s\S]*?)```|`([^`\n]+)`|<([^<>\n]+)>/g;
  let html = "", last = 0, m;
  while ((m = re.exec(text)) !== null) {
    html += inline(text.slice(last, m.index));
    if (m[1] !== undefined) html += "<pre>" + esc(unescapeSlack(m[1].replace(/^\n/, ""))) + "</pre>";
    else if (m[2] !== undefined) html += "<code>" + esc(unescapeSlack(m[2])) + "</code>";
    else html += link(m[3]);
    last = re.lastIndex;
  }
  return html + inline(text.slice(last));
}

function textObject(t) {
  if (!t || typeof t.text !== "string") throw new Error("text object without text");
  if (t.type === "mrkdwn") return mrkdwn(t.text);
  if (t.type === "plain_text") return esc(t.text).replace(/\n/g, "<br>");
  throw new Error("unsupported text object type " + t.type);
}

function div(cls, html) {
  const d = document.createElement("div");
  d.className = cls;
  d.innerHTML = html;
  return d;
}

function renderBlock(b) {
  switch (b.type) {
    case "header":
      return div("block header", textObject(b.text));
    case "divider":
      return div("divider", "");
    case "section": {
      if (b.accessory) throw new Error("section accessory is not supported by this renderer");
      const d = div("block section", "");
      if (b.text) d.appendChild(div("section-text", textObject(b.text)));
      if (b.fields) {
        const f = div("fields", "");
        for (const field of b.fields) f.appendChild(div("field", textObject(field)));
        d.appendChild(f);
      }
      return d;
    }
    case "context":
      return div("block context", b.elements.map((e) => {
        if (e.type !== "mrkdwn" && e.type !== "plain_text") throw new Error("unsupported context element " + e.type);
        return "<span>" + textObject(e) + "</span>";
      }).join(""));
    case "actions":
      return div("block actions", b.elements.map((e) => {
        if (e.type !== "button") throw new Error("unsupported actions element " + e.type);
        const style = e.style === "primary" || e.style === "danger" ? " " + e.style : "";
        return '<span class="button' + style + '">' + textObject(e.text) + "</span>";
      }).join(""));
    default:
      throw new Error("unsupported block type " + b.type);
  }
}

window.addEventListener("DOMContentLoaded", () => {
  const body = document.body;
  try {
    const payload = window.SLACK_PAYLOAD;
    if (!payload || !Array.isArray(payload.blocks)) throw new Error("payload has no blocks");
    const target = document.getElementById("blocks");
    for (const b of payload.blocks) target.appendChild(renderBlock(b));
  } catch (e) {
    body.dataset.error = String(e && e.message || e);
  }
  body.dataset.size = body.scrollWidth + "x" + Math.ceil(body.getBoundingClientRect().height);
});
