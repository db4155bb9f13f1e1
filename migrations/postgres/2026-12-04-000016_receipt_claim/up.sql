-- Who sends a pending receipt: a sender claims it for the UTC day
-- (`YYYY-MM-DD`, the granularity `day` already has, so the claim tells
-- no more about when someone paid) before sending, so two passes at once
-- (the webhook's, the success page's, another node's sweep) send it once.
-- NULL: unclaimed. A claim left by a sender that stopped mid-send expires
-- when the day changes, and the receipt is tried again.
ALTER TABLE purchases ADD COLUMN receipt_claimed_on TEXT;
