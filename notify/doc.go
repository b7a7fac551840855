// Package notify tells people about alerts: a signed generic webhook
// (Standard Webhooks), Microsoft Teams (Workflows, Adaptive Card), Slack
// (incoming webhook, Block Kit) and PagerDuty (Events API v2).
//
// Its few types:
//   - Channel: one configured destination. Webhook, Teams, Slack and
//     PagerDuty implement it; FromSettings builds the configured ones.
//   - Policy: bounded inline retries of one send (exponential backoff with
//     jitter, cenkalti/backoff's, Retry-After honoured up to MaxDelay).
//     Send applies it.
//   - Dispatcher: the durable per-channel state machine on
//     alert.Alert.Deliveries (pending → sent | failed). It only mutates the
//     alert; persisting it is the caller's job.
//   - StatusError and TransportError: what a failed send returns;
//     Retryable classifies them.
//
// Caveats:
//   - Record text is untrusted. Each channel escapes it for its own markup
//     (Slack mrkdwn entities with verbatim text, Adaptive Card markdown
//     escapes, PagerDuty plain text) and truncates it to the channel's limits
//     with a visible marker; rendering never fails because of size.
//   - Webhook URLs and the PagerDuty routing key carry credentials. They are
//     never part of an error string, a log record, or the fmt/slog rendering
//     of a channel: errors name the channel and the HTTP status only.
//   - Sends are at-least-once. Each carries the alert id as idempotency key
//     (webhook-id header, PagerDuty dedup_key); Teams and Slack have none, so
//     a receiver that accepted a request whose answer was lost may show the
//     message twice.
package notify
