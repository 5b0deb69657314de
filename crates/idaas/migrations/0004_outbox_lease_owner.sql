-- Short, renewed outbox leases (issue 4): who holds the lease on a provisioning_outbox row. A worker
-- claims rows with its own random owner id, renews the lease while it works on them, and completes
-- or fails a row only while the lease is still its own: after a crash the rows are claimable again
-- within one lease, and a worker whose lease was taken over cannot delete the new holder's row.
ALTER TABLE provisioning_outbox ADD COLUMN lease_owner TEXT NULL;
CREATE INDEX provisioning_outbox_lease_owner ON provisioning_outbox (lease_owner);
