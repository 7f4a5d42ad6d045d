"""SYNTHETIC problem archetypes: Stock, CRM, Sales Order Processing, Purchasing and Manufacturing.

Invented tickets for :mod:`casebase.sample`; see :mod:`casebase.sample.archetypes.model` for the template syntax.
"""
from __future__ import annotations

from casebase.sample.archetypes.model import collector

ARCH, A = collector()

# ----------------------------------------------------------------------------- Stock
A("stock_negative", "Stock", "Stock Levels", "Data problem", "norm", 2,
  ["Negative stock showing", "Stock levels wrong - negative quantity", "Stock item {stock} negative", "Can't allocate - negative free stock"],
  ["Stock item {stock} is showing -{n} in stock, but there are definitely some on the shelf. How has this happened?",
   "We've got a lot of items showing negative stock since the upgrade, e.g. {stock} is at -{n}.",
   "Dispatches are going through even though there's no stock, leaving the quantity negative. We don't want to allow this."],
  ["We have two warehouses.", "Goods in was done by {user} last week.", "It affects about {n} lines on the stock list."],
  [("config", "'Allow negative stock' was ticked in the stock settings.",
    "Untick Allow negative stock in Stock Control > Settings, then post a stock adjustment in for the counted quantity to bring {stock} back to the right level."),
   ("data", "Goods received had been booked into the wrong warehouse.",
    "Transfer the stock from the receiving warehouse to the dispatch warehouse using Stock > Transfers; the free stock is then correct.")])

A("stock_fifo", "Stock", "Stock Valuation", "Data problem", "norm", 1,
  ["FIFO valuation wrong", "Stock valuation doesn't match nominal", "Stock valuation report incorrect", "Cost price wrong on stock item"],
  ["The stock valuation report using FIFO is {amount} different to the stock control account in the nominal ledger.",
   "Item {stock} is valued at a cost from 2 years ago even though we bought more last month at a higher price. We use FIFO.",
   "Our auditors have asked why the stock valuation at {qend} doesn't agree to the balance sheet."],
  ["We switched from average cost to FIFO last year.", "Some receipts were booked in before the invoices arrived."],
  [("advice", "Stock postings to the nominal are made by the period end stock journal, not live.",
    "Post the closing stock journal from the stock valuation report at period end (Dr 1001 / Cr 5200). The valuation and nominal then agree."),
   ("data", "Receipts had been entered with zero cost so the FIFO layers were wrong.",
    "Use Stock > Amend Cost on the receipts for {stock} with the invoice price and rerun the valuation.")])

A("stock_stocktake", "Stock", "Stocktake", "Error message", "high", 2,
  ["Stocktake import failing", "Can't import stock count", "Stock take file error", "Stocktake - import rejected"],
  ["We've done our stocktake and I'm trying to import the counts from the CSV but it fails with '{err}'.",
   "Stock take import stops at line {n} with {err}. We have about 3,000 lines and need to finish today.",
   "Our stocktake sheet was exported from the system, filled in, and now won't import back in. Error: '{err}'."],
  ["The warehouse is closed until the count is posted.", "We edited the file in Excel.", "{user} did the counting on the scanners."],
  [("data", "Excel had stripped leading zeros from the item codes.",
    "Open the CSV in Notepad rather than Excel, or format the item code column as Text before saving. Re-import the file."),
   ("advice", "The import template columns had been reordered.",
    "Export a fresh stock take sheet, paste the counted quantities into the 'Actual' column only and save as CSV (not xlsx), then import.")],
  errs=["Line {n}: Item code not found", "Invalid quantity on line {n}", "The file is open in another program",
        "Column 'Bin' does not exist"], months=[1, 3, 6, 12])

# ----------------------------------------------------------------------------- CRM
A("crm_outlook", "CRM", "Outlook Integration", "Error message", "norm", 2,
  ["Outlook sync not working", "CRM add-in missing from Outlook", "E-mails not saving to CRM", "Calendar not syncing with CRM"],
  ["The CRM add-in has disappeared from Outlook on {user}'s PC. We get '{err}'.",
   "Contacts and appointments haven't synced between Outlook and CRM since {date}.",
   "When I click 'Save to CRM' on an e-mail it spins and then says '{err}'."],
  ["We're on Outlook 365.", "It only affects one user.", "We changed our e-mail passwords last week."],
  [("config", "Outlook had disabled the add-in after a slow start.",
    "In Outlook go to File > Options > Add-ins > COM Add-ins, re-enable the CRM add-in, and under 'Slow and disabled add-ins' choose 'Always enable this add-in'."),
   ("repair", "", "Close Outlook, repair the CRM Outlook integration from Programs and Features, and re-enter the sync settings (server URL and credentials).")],
  errs=["Sync failed: The server could not be contacted",
        "Outlook add-in has been disabled because it caused Outlook to crash",
        "Error 0x80004005 - MAPI_E_NO_ACCESS", "Sync error: Duplicate key value"])

A("crm_duplicates", "CRM", "Contacts", "Data problem", "low", 2,
  ["Duplicate contacts in CRM", "Merging duplicate accounts", "Lots of duplicate records after import", "How do I merge contacts"],
  ["After importing our mailing list we've ended up with about {n} duplicate contacts. Is there a way to merge them?",
   "We have the same customer set up twice, once as '{cust}' and once without the 'Ltd'. How do we merge them?",
   "Duplicate contacts are being created when e-mails are saved from Outlook."],
  ["The import was done by {user}.", "We want to keep the history from both records."],
  [("advice", "",
    "Use Tools > Duplicate Check matching on e-mail and surname, review the suggested matches and use Merge Records, choosing which record to keep. For accounts merge into the one with the most history."),
   ("config", "The Outlook add-in was set to create a new contact when no exact match was found.",
    "In the CRM Outlook settings set 'When no match found' to Prompt and turn on duplicate checking for new contacts.")])

A("crm_mailmerge", "CRM", "Mail Merge", "Error message", "low", 1,
  ["Mail merge not working", "E-mail templates not populating", "Bulk e-mail error"],
  ["When we do a mail merge from CRM the fields come out as <<FirstName>> rather than the name.",
   "Our bulk e-mail to {n} contacts failed with '{err}'.",
   "The e-mail template doesn't pick up the account manager's signature any more."],
  ["It worked for the newsletter last month.", "We use Word 365."],
  [("config", "The template had been edited in Word and the merge fields converted to plain text.",
    "Re-insert the merge fields from the CRM Mail Merge toolbar in the template (don't type the chevrons), save it back to the library and run the merge again.")],
  errs=["Word could not start the merge", "Template not found", "SMTP send limit exceeded"])

# ----------------------------------------------------------------------------- Sales Order Processing
A("sop_invoice_email", "Sales Order Processing", "Invoice E-mailing", "Error message", "high", 2,
  ["Invoices not e-mailing", "Can't email invoices - SMTP error", "E-mail settings - authentication failed", "Invoice e-mails stuck"],
  ["Since Friday we can't e-mail invoices from the system. It says '{err}'. Our settings are smtp.office365.com port 587, username {email}, password: {pwd}",
   "Our invoice e-mails are failing with '{err}'. We've got {n} invoices to send today.",
   "E-mailing statements and invoices has stopped working since our IT moved us to Microsoft 365."],
  ["We send about {n} invoices a day.", "Our IT provider changed the mailbox password.", "Statements are due to go out at month end."],
  [("config", "Microsoft 365 had disabled basic SMTP authentication for the mailbox.",
    "Enable Authenticated SMTP for the mailbox in the Microsoft 365 admin centre (or switch the software to Modern Authentication under Settings > E-mail), then send a test e-mail."),
   ("config", "The mailbox password had been changed.",
    "Update the SMTP password under Settings > E-mail Settings and send a test. Please use an app password and don't send passwords by e-mail.")],
  errs=["535 5.7.3 Authentication unsuccessful", "SMTP error: Unable to connect to the remote server",
        "5.7.57 Client not authenticated to send mail", "The operation has timed out"], secrets=True)

A("sop_credit", "Sales Order Processing", "Credit Control", "How to", "norm", 2,
  ["Order on hold - credit limit", "Can't release order on credit stop", "Credit limit warning not appearing", "Change customer credit limit"],
  ["An order for {cust} is on hold because they're over their credit limit, but they've paid today. How do we release it?",
   "Orders are being placed for customers over their credit limit without any warning.",
   "We need to increase {cust}'s credit limit to {amount} but the field is greyed out."],
  ["The order needs to go out on today's van.", "Our credit controller is {user}."],
  [("advice", "",
    "Allocate the receipt to the outstanding invoices so the balance updates, then release the order from Sales Order Processing > Credit Hold > Release. Only users with the Credit Controller role can release orders."),
   ("config", "Credit checking was switched off in the SOP settings.",
    "Enable 'Check credit limit on order entry' under Sales Order Processing > Settings and set the action to 'Hold'.")])

A("sop_pricing", "Sales Order Processing", "Pricing", "Data problem", "norm", 2,
  ["Wrong price on sales order", "Price band not applied", "Customer discount not working", "Invoice pricing incorrect"],
  ["{cust} should get 10% discount but the order for {stock} is coming through at full price ({amount}).",
   "Since {date} prices on sales orders are using the old price list.",
   "Quantity break pricing isn't working on item {stock}."],
  ["We updated our price list on {date}.", "The customer has complained about their last invoice."],
  [("config", "The new price band had an effective date in the future.",
    "Correct the effective date on the price band in Price Book > Price Bands, then re-price the open orders (Amend > Recalculate Prices)."),
   ("data", "The customer's account was not linked to the price band.",
    "Set the price band on the customer's Trading Terms tab and re-enter the order line.")])

# ----------------------------------------------------------------------------- Purchasing
A("pop_matching", "Purchasing", "Invoice Matching", "Data problem", "norm", 2,
  ["Can't match supplier invoice to PO", "GRN / invoice variance", "Purchase invoice won't match", "Price variance on PO {pono}"],
  ["I'm trying to match the invoice from {supplier} ({invno}) to purchase order {pono} but it says there is a variance of {amount}.",
   "The goods received note for PO {pono} isn't showing when I try to match the invoice.",
   "Purchase invoice from {supplier} has been entered but the PO is still showing as outstanding."],
  ["The supplier put their prices up this month.", "Goods in was done by {user}.", "It's a part delivery."],
  [("advice", "",
    "Set the tolerance in Purchase Order Processing > Settings > Invoice Matching, or accept the variance on the matching screen, which posts the difference to the purchase price variance code."),
   ("data", "The GRN had been booked against the wrong PO line.",
    "Reverse the GRN and rebook it against the correct line on PO {pono}, then match the invoice.")])

A("pop_duplicate", "Purchasing", "Supplier Invoices", "Data problem", "norm", 1,
  ["Supplier invoice entered twice", "Duplicate invoice paid", "Duplicate reference warning not showing"],
  ["We've paid invoice {invno} from {supplier} twice ({amount}). How do we reverse the second one?",
   "The system used to warn us about duplicate supplier invoice numbers but doesn't any more.",
   "{user} has entered a batch of {n} supplier invoices that were already on the system."],
  ["The supplier has agreed to refund us.", "It was in last week's payment run."],
  [("data", "", "Reverse the duplicate invoice with a credit note (or Corrections > Reverse) and post the supplier's refund as a supplier receipt."),
   ("config", "The duplicate reference check had been switched off.", "Turn on 'Warn on duplicate supplier invoice reference' under Purchase Ledger > Settings.")])

A("pop_approval", "Purchasing", "Purchase Approvals", "How to", "low", 1,
  ["PO approval e-mails not sending", "Set up purchase order approval", "Approver left - orders stuck"],
  ["Purchase orders over {amount} are stuck waiting for approval from {user}, who left last month.",
   "Approvers aren't receiving the approval e-mails.",
   "Can you show us how to set up approval limits by department?"],
  ["We have {n} orders waiting.", "Our finance director signs off anything over £5,000."],
  [("config", "", "In Settings > Authorisations replace the leaver with the new approver and resubmit the pending orders for authorisation."),
   ("config", "The approvers' e-mail addresses were missing from their user records.",
    "Add e-mail addresses to the approvers' user records (System Administration > Users), check the SMTP settings, then resend the notifications from Authorisations > Pending."),
   ("advice", "",
    "Set up approval limits in Settings > Authorisations > Purchase Orders: create an authoriser per department with a value limit and tick 'Require authorisation above limit'.")])

# ----------------------------------------------------------------------------- Manufacturing
A("mfg_works_order", "Manufacturing", "Works Orders", "Error message", "high", 2,
  ["Can't complete works order", "Works order error", "Works order {wo} stuck"],
  ["I can't complete works order {wo} - it says '{err}', but the components are in the stores.",
   "Works order {wo} shows as 'in progress' but production finished last week.",
   "When we issue materials to {wo} we get '{err}'."],
  ["The order is for {n} units.", "The customer is waiting for delivery.", "The BOM was changed last month."],
  [("data", "The components were in a different warehouse from the one on the works order.",
    "Transfer the components to the production warehouse (or change the issue warehouse on the works order), issue the materials and complete the order."),
   ("advice", "", "Use Record Finished Goods with 'Issue components automatically' ticked and enter the completed quantity; the works order then closes.")],
  errs=["Insufficient stock to complete works order", "Works order is already complete", "BOM version not released"])

A("mfg_mrp", "Manufacturing", "MRP", "Data problem", "low", 1,
  ["MRP suggesting wrong quantities", "MRP not picking up sales orders", "MRP run failing"],
  ["MRP is suggesting we order {n} of {stock} when we already have plenty on order.",
   "The MRP run isn't picking up sales orders entered after {date}.",
   "MRP fails overnight with '{err}'."],
  ["We run MRP every night.", "Lead times were updated recently."],
  [("config", "Purchase orders were in a warehouse excluded from MRP.",
    "Include the warehouse in MRP Settings > Warehouses and rerun MRP."),
   ("data", "Sales orders had a requested date beyond the MRP horizon.",
    "Extend the MRP horizon to 26 weeks in MRP Settings and rerun.")],
  errs=["Error 0x80004005 Unspecified error", "Timeout expired", "Deadlock victim"])
