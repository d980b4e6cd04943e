"""Node-to-node exchange: partner API, receipts, outbox and the delivery worker."""
