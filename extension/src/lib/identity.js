// Attribution (issue 15): the school e-mail the browser is signed in with, told to the local service once a browser
// session. The service keeps it only when it is in one of the school's e-mail domains, and from then on names this
// OS account's events with it, so reviewers see the person, not only the laptop's account name. Chrome gives the
// profile's signed-in account (identity.getProfileUserInfo, with the identity and identity.email permissions);
// Firefox has no such call, and nothing is sent there.

const ADDRESS = /^[^@\s]+@[^@\s]+\.[a-z]{2,}$/;

/** The profile's e-mail address, lower case, or "" (no call, nobody signed in, sync off, or not an address). */
export async function profileEmail(getProfileUserInfo) {
  if (typeof getProfileUserInfo !== "function") return "";
  try {
    const info = await getProfileUserInfo({ accountStatus: "ANY" });
    const email = String(info?.email ?? "").trim().toLowerCase();
    return ADDRESS.test(email) && email.length <= 254 ? email : "";
  } catch {
    return "";
  }
}

/** Tell the service the address when it is new this session: send(email) posts it, remembered()/remember(email)
 * keep which one was told. Resolves with the service's answer, or null when there was nothing new to tell. */
export async function reportIdentity({ getProfileUserInfo, send, remembered, remember }) {
  const email = await profileEmail(getProfileUserInfo);
  if (!email || (await remembered()) === email) return null;
  const answer = await send(email);
  await remember(email);
  return answer;
}
