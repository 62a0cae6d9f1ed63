// Word lists for the benchmark corpus generator (corpus.ts). Plain data.
// None of these may contain the corpus's rare search word or the FROM search term
// (the corpus smoke test checks this).

export const COMMON_WORDS = (
  'the of and to a in that is was he for it with as his on be at by had this from or have an ' +
  'they which one you were her all she there would their we him been has when who will more no ' +
  'if out so said what up its about into than them can only other new some could time these two ' +
  'may then do first any my now such like our over man me even most made after also did many ' +
  'before must through back years where much your way well down should because each just those ' +
  'people how too little state good very make world still own see men work long get here between ' +
  'both life being under never day same another know while last might us great old year off come ' +
  'since against go came right used take three small large next early young important few public ' +
  'bad able hand part place case week company system program question government number night ' +
  'point home water room mother area money story fact month lot study book eye job word business ' +
  'issue side kind head house service friend father power hour game line end member law car city ' +
  'community name president team minute idea kid body information school face others level office ' +
  'door health person art war history party result change morning reason research girl guy moment ' +
  'air teacher force education'
).split(' ');

export const WORK_WORDS = (
  'project meeting report budget deadline review server release update customer invoice schedule ' +
  'draft proposal quarter design feedback agenda contract travel dinner weekend garden photos ' +
  'holiday family roadmap migration backup database network printer laptop password account ' +
  'payment delivery order shipment warehouse estimate forecast analysis spreadsheet presentation ' +
  'slides workshop conference ticket support issue bug patch branch merge test build deploy ' +
  'staging production outage incident postmortem capacity latency storage mailbox calendar ' +
  'appointment dentist school football concert birthday recipe bicycle apartment lease insurance ' +
  'mortgage receipt refund subscription newsletter discount coupon'
).split(' ');

/** Non-ASCII words representable in ISO-8859-1 (used by latin1 messages and UTF-8 ones). */
export const LATIN1_WORDS = [
  'café', 'naïve', 'Zürich', 'façade', 'résumé', 'jalapeño', 'señor', 'Grüße', 'smörgåsbord',
  'Ærø', 'Øresund', 'déjà', 'über', 'São', 'Málaga', 'crème', 'brûlée', 'Köln', 'Göteborg', 'piñata',
];

/** Non-ASCII words that need UTF-8. */
export const UTF8_WORDS = [
  '€', '—', 'Łódź', 'Kraków', 'Dvořák', '東京', 'Москва', 'Αθήνα', 'İstanbul', '🙂', 'naïveté',
  'Škoda', 'Ελλάδα', 'привет', '日本語', 'Nguyễn',
];

/** [display, ascii form for addresses]. */
export const FIRST_NAMES: ReadonlyArray<readonly [string, string]> = [
  ['James', 'james'], ['Mary', 'mary'], ['Robert', 'robert'], ['Patricia', 'patricia'],
  ['John', 'john'], ['Jennifer', 'jennifer'], ['Michael', 'michael'], ['Linda', 'linda'],
  ['David', 'david'], ['Elizabeth', 'elizabeth'], ['William', 'william'], ['Barbara', 'barbara'],
  ['Richard', 'richard'], ['Susan', 'susan'], ['Joseph', 'joseph'], ['Jessica', 'jessica'],
  ['Thomas', 'thomas'], ['Sarah', 'sarah'], ['Charles', 'charles'], ['Karen', 'karen'],
  ['Priya', 'priya'], ['Wei', 'wei'], ['Hiroshi', 'hiroshi'], ['Fatima', 'fatima'],
  ['Olu', 'olu'], ['Mateo', 'mateo'], ['Lucía', 'lucia'], ['José', 'jose'], ['Zoë', 'zoe'],
  ['Chloé', 'chloe'], ['Søren', 'soren'], ['Björn', 'bjorn'], ['Łukasz', 'lukasz'],
  ['Ana', 'ana'], ['Jürgen', 'juergen'], ['François', 'francois'], ['Anaïs', 'anais'],
  ['Mikael', 'mikael'], ['Nadia', 'nadia'], ['Oskar', 'oskar'], ['Ines', 'ines'],
  ['Kenji', 'kenji'], ['Amara', 'amara'], ['Tomás', 'tomas'], ['Elena', 'elena'],
  ['Анна', 'anna'], ['Дмитрий', 'dmitry'], ['Ελένη', 'eleni'], ['伟', 'wei.li'],
];

export const LAST_NAMES: ReadonlyArray<readonly [string, string]> = [
  ['Smith', 'smith'], ['Johnson', 'johnson'], ['Williams', 'williams'], ['Brown', 'brown'],
  ['Jones', 'jones'], ['Garcia', 'garcia'], ['Miller', 'miller'], ['Davis', 'davis'],
  ['Rodriguez', 'rodriguez'], ['Martinez', 'martinez'], ['Wilson', 'wilson'], ['Anderson', 'anderson'],
  ['Taylor', 'taylor'], ['Thomas', 'thomas'], ['Moore', 'moore'], ['Jackson', 'jackson'],
  ['Martin', 'martin'], ['Lee', 'lee'], ['Thompson', 'thompson'], ['White', 'white'],
  ['Patel', 'patel'], ['Nakamura', 'nakamura'], ['Okafor', 'okafor'], ['Haddad', 'haddad'],
  ['Müller', 'mueller'], ['Schröder', 'schroeder'], ['García', 'garcia'], ['Dubois', 'dubois'],
  ['Kierkegård', 'kierkegard'], ['Wiśniewski', 'wisniewski'], ['Ćosić', 'cosic'],
  ['Lindqvist', 'lindqvist'], ['Fernández', 'fernandez'], ['Novák', 'novak'], ['Rossi', 'rossi'],
  ['Van der Berg', 'vanderberg'], ["O'Brien", 'obrien'], ['Kowalski', 'kowalski'],
  ['Иванова', 'ivanova'], ['Петров', 'petrov'], ['Παπαδοπούλου', 'papadopoulou'], ['李', 'li'],
];

export const PERSONAL_DOMAINS = [
  'gmail.example', 'outlook.example', 'yahoo.example', 'fastmail.example', 'posteo.example',
  'web.example', 'orange.example', 'proton.example', 'icloud.example', 'gmx.example',
];

export const WORK_DOMAINS = [
  'acme-corp.example', 'globex.example', 'initech.example', 'umbrella-labs.example',
  'stark-industries.example', 'wayne-enterprises.example', 'hooli.example', 'piedpiper.example',
  'vandelay.example', 'tyrell.example', 'cyberdyne.example', 'soylent.example',
  'universidad.example', 'hospital-nord.example', 'city-council.example',
];

export const NEWSLETTERS: ReadonlyArray<readonly [string, string]> = [
  ['Acme Weekly', 'news@acme-weekly.example'],
  ['The Morning Brief', 'brief@morningbrief.example'],
  ['Shopping Deals', 'deals@shop.example'],
  ['Trailhead Outdoors', 'hello@trailhead.example'],
  ['Café Crème Rewards', 'rewards@cafecreme.example'],
  ['DevOps Digest', 'digest@devops.example'],
  ['City Library', 'noreply@library.example'],
  ['Bank Notifications', 'alerts@bank.example'],
  ['Airline Check-in', 'checkin@airline.example'],
  ['Fotoclub Zürich', 'info@fotoclub-zuerich.example'],
];

export const LISTS: ReadonlyArray<readonly [string, string, string]> = [
  // [list address, List-Id, subject tag]
  ['dev@lists.roost.example', 'dev.lists.roost.example', '[roost-dev]'],
  ['users@lists.opensource.example', 'users.lists.opensource.example', '[users]'],
  ['hiking-club@groups.example', 'hiking-club.groups.example', '[Hiking]'],
  ['parents@school.example', 'parents.school.example', '[Class 4B]'],
];

export const SUBJECT_TEMPLATES = [
  'Meeting notes for {w} {w}', '{W} {w} {w}', 'Invoice #{n}', 'Your order {n} has shipped',
  'Question about the {w}', 'Update on {w} {w}', 'Draft {w} proposal', '{W} schedule for next week',
  'Photos from the {w}', 'Reminder: {w} on Friday', 'Can we move the {w}?', 'Quick {w} question',
  '{W} review - {w} {w}', 'Lunch {w}?', 'Weekly {w} report', 'FYI: {w} {w} {w}',
  'Action required: {w} {w}', 'Thanks for the {w}!', '{W} and {w}', 'Notes from {w} {w} meeting',
];

export const NONASCII_SUBJECTS = [
  'Café meeting in Zürich', 'Grüße aus Köln', 'Ønsker du kaffe?', 'Réunion de l’équipe — compte rendu',
  'Рабочая встреча в пятницу', '会議の議事録', 'Πρόγραμμα για την Παρασκευή', 'Jalapeño recipe 🙂',
  'Factura nº {n} – año {y}', 'Smörgåsbord on Saturday', 'Kraków trip: plan & budżet', 'Ödeme onayı {n}',
];

export const ATTACHMENT_TYPES: ReadonlyArray<readonly [string, string, boolean]> = [
  // [content type, file extension, is text]
  ['application/pdf', 'pdf', false],
  ['image/jpeg', 'jpg', false],
  ['image/png', 'png', false],
  ['application/zip', 'zip', false],
  ['application/vnd.openxmlformats-officedocument.wordprocessingml.document', 'docx', false],
  ['application/vnd.openxmlformats-officedocument.spreadsheetml.sheet', 'xlsx', false],
  ['text/csv', 'csv', true],
  ['text/calendar', 'ics', true],
  ['text/plain', 'txt', true],
];

export const FILE_STEMS = [
  'report', 'invoice', 'scan', 'IMG_4032', 'photo', 'slides', 'contract', 'budget', 'notes',
  'minutes', 'statement', 'boarding-pass', 'receipt', 'Präsentation', 'résumé', 'Übersicht',
];
