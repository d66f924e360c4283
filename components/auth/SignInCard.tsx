"use client";
import { useState } from "react";
import { signIn } from "next-auth/react";
import { Alert, Anchor, Avatar, Badge, Box, Button, Card, Center, Divider, Group, Image, Stack, Text, TextInput, Title, UnstyledButton } from "@mantine/core";
import { IconAlertTriangle, IconKey, IconLogin2, IconTool } from "@tabler/icons-react";

const errorMessages: Record<string, string> = {
  OAuthSignin: "Could not reach the sign-in service. Try again, or tell your administrator if it keeps failing.",
  OAuthCallback: "The sign-in service answered with an error. Try again.",
  OAuthAccountNotLinked:
    "Another account already uses this e-mail address, so this sign-in was not linked to it. Sign in the way you did before, or ask a site administrator to sort it out.",
  EmailNotVerified: "Your sign-in service did not confirm that this e-mail address is yours. Verify it there (or ask its administrator), then sign in again.",
  EmailMissing: "Your sign-in service did not send an e-mail address. Ask its administrator to release the e-mail claim to Atrium.",
  Callback: "Sign-in could not be completed. Try again.",
  AccessDenied: "The sign-in service denied access.",
  Configuration: "Sign-in is misconfigured on the server. Tell your administrator.",
  SessionRequired: "Sign in to see that page.",
};

interface Props {
  oidc: { name: string } | null;
  devSignIn: boolean;
  knownUsers: { email: string; name: string | null }[];
  callbackUrl: string;
  error: string | null;
}

export function SignInCard({ oidc, devSignIn, knownUsers, callbackUrl, error }: Props) {
  const [busy, setBusy] = useState(false);
  return (
    <Center mih="100vh" bg="var(--mantine-color-gray-0)" p="md">
      <Stack w={420} gap="lg">
        <Group gap="sm" justify="center">
          <Image src="/atrium.svg" alt="" w={40} h={40} />
          <Title order={2}>Atrium</Title>
        </Group>
        <Card withBorder shadow="sm" padding="xl" radius="lg">
          <Stack gap="md">
            <div>
              <Title order={3}>Sign in</Title>
              <Text c="dimmed" size="sm">
                Research imaging data for your department: intake, de-identification and archive.
              </Text>
            </div>
            {error && (
              <Alert color="red" icon={<IconAlertTriangle size={18} />} title="Sign-in failed">
                {errorMessages[error] ?? "Sign-in did not complete. Try again."}
              </Alert>
            )}
            {oidc && (
              <Button
                size="md"
                leftSection={<IconKey size={18} />}
                loading={busy}
                onClick={() => {
                  setBusy(true);
                  void signIn("oidc", { callbackUrl });
                }}
              >
                Sign in with {oidc.name}
              </Button>
            )}
            {!oidc && !devSignIn && (
              <Alert color="orange" icon={<IconAlertTriangle size={18} />} title="No sign-in method configured">
                Ask your administrator to set ATRIUM_OIDC_ISSUER, ATRIUM_OIDC_CLIENT_ID and ATRIUM_OIDC_CLIENT_SECRET for the
                institute&apos;s single sign-on.
              </Alert>
            )}
            {devSignIn && <DevSignIn knownUsers={knownUsers} callbackUrl={callbackUrl} />}
          </Stack>
        </Card>
        <Text c="dimmed" size="xs" ta="center">
          Access to projects is granted by their owners. <Anchor href="/status" size="xs">System status</Anchor>
        </Text>
      </Stack>
    </Center>
  );
}

function DevSignIn({ knownUsers, callbackUrl }: { knownUsers: Props["knownUsers"]; callbackUrl: string }) {
  return (
    <Box>
      <Divider
        my="xs"
        label={
          <Badge color="yellow" variant="light" leftSection={<IconTool size={12} />}>
            Development sign-in
          </Badge>
        }
      />
      <Text size="xs" c="dimmed" mb="sm">
        No SSO is configured, so you can sign in as anyone. This exists only outside production.
      </Text>
      {knownUsers.length > 0 && (
        <Stack gap={4} mb="sm">
          {knownUsers.map((u) => (
            <form key={u.email} method="post" action="/api/dev-signin">
              <input type="hidden" name="email" value={u.email} />
              <input type="hidden" name="callbackUrl" value={callbackUrl} />
              <UnstyledButton type="submit" w="100%" p={6} style={{ borderRadius: 8 }} className="dev-user">
                <Group gap="sm">
                  <Avatar size="sm" name={u.name ?? u.email} color="initials" />
                  <div>
                    <Text size="sm" fw={500}>{u.name ?? u.email}</Text>
                    <Text size="xs" c="dimmed">{u.email}</Text>
                  </div>
                </Group>
              </UnstyledButton>
            </form>
          ))}
        </Stack>
      )}
      <form method="post" action="/api/dev-signin">
        <input type="hidden" name="callbackUrl" value={callbackUrl} />
        <Stack gap="xs">
          <TextInput name="email" type="email" label="E-mail" placeholder="researcher@institute.org" required />
          <TextInput name="name" label="Name" placeholder="Optional" />
          <Button type="submit" variant="light" color="yellow" leftSection={<IconLogin2 size={16} />}>
            Sign in as this user
          </Button>
        </Stack>
      </form>
    </Box>
  );
}
