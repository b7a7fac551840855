// Renders the Adaptive Card of Tripline's Teams payload (window.TEAMS_PAYLOAD, the golden file
// notify/testdata/teams.golden.json) with Microsoft's adaptivecards renderer and a host config
// modelled on Teams' light theme. Markdown in TextBlocks goes through markdown-it, the processor
// the renderer picks up by itself (Teams also renders a markdown subset, backslash escapes included).
"use strict";

const fg = (def, subtle) => ({ default: def, subtle: subtle });
const foregrounds = {
  default: fg("#242424", "#616161"),
  dark: fg("#242424", "#616161"),
  light: fg("#ffffff", "#f3f2f1"),
  accent: fg("#5b5fc7", "#8b8cc7"),
  good: fg("#0e700e", "#5c9e5c"),
  // Teams' light theme draws "Warning" text as a dark amber (readable on white).
  warning: fg("#bc4b09", "#d77b45"),
  attention: fg("#c4314b", "#d66d80"),
};

const teamsLightHostConfig = {
  supportsInteractivity: true,
  fontFamily: "'Segoe UI', 'Segoe UI Web (West European)', Selawik, 'Open Sans', 'Helvetica Neue', Arial, sans-serif",
  spacing: { small: 8, default: 12, medium: 16, large: 20, extraLarge: 24, padding: 16 },
  separator: { lineThickness: 1, lineColor: "#e0e0e0" },
  fontSizes: { small: 12, default: 14, medium: 14, large: 18, extraLarge: 24 },
  fontWeights: { lighter: 200, default: 400, bolder: 600 },
  containerStyles: {
    default: { backgroundColor: "#ffffff", foregroundColors: foregrounds },
    emphasis: { backgroundColor: "#f5f5f5", foregroundColors: foregrounds },
  },
  actions: {
    maxActions: 6, spacing: "default", buttonSpacing: 8,
    showCard: { actionMode: "inline", inlineTopMargin: 16 },
    actionsOrientation: "horizontal", actionAlignment: "left",
  },
  adaptiveCard: { allowCustomStyle: false },
  factSet: {
    title: { size: "default", color: "default", isSubtle: false, weight: "bolder", wrap: true, maxWidth: 150 },
    value: { size: "default", color: "default", isSubtle: false, weight: "default", wrap: true },
    spacing: 16,
  },
};

window.addEventListener("DOMContentLoaded", () => {
  const body = document.body;
  try {
    const payload = window.TEAMS_PAYLOAD;
    if (!payload || !Array.isArray(payload.attachments) || !payload.attachments[0] ||
        payload.attachments[0].contentType !== "application/vnd.microsoft.card.adaptive") {
      throw new Error("payload is not a Workflows message with an Adaptive Card attachment");
    }
    const card = new AdaptiveCards.AdaptiveCard();
    card.hostConfig = new AdaptiveCards.HostConfig(teamsLightHostConfig);
    const errors = [];
    const context = new AdaptiveCards.SerializationContext();
    card.parse(payload.attachments[0].content, context);
    for (let i = 0; i < context.eventCount; i++) errors.push(context.getEventAt(i).message);
    for (const event of card.validateProperties().validationEvents) errors.push(event.message);
    const el = card.render();
    if (!el) throw new Error("renderer returned nothing");
    document.getElementById("card").appendChild(el);
    if (errors.length) body.dataset.warnings = errors.join(" | ");
  } catch (e) {
    body.dataset.error = String(e && e.message || e);
  }
  body.dataset.size = body.scrollWidth + "x" + Math.ceil(body.getBoundingClientRect().height);
});
