-- 0005 issue 12: a link conflict stays open until the admin resolves it (a later Procore export brings the linked
-- id again, or the link is removed), and a link whose QuickBooks record is gone from the company file is kept and
-- marked (a refresh that read every record did not find it, or QuickBooks answered a Mod with "not found").

ALTER TABLE qb_link_conflicts ADD COLUMN IF NOT EXISTS resolved_at TIMESTAMP WITH TIME ZONE;

ALTER TABLE qb_links ADD COLUMN IF NOT EXISTS deleted_in_quickbooks_at TIMESTAMP WITH TIME ZONE;

ALTER TABLE qb_links ADD COLUMN IF NOT EXISTS deleted_detail VARCHAR;
