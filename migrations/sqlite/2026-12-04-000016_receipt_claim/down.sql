ALTER TABLE purchases DROP COLUMN receipt_claimed_on;
