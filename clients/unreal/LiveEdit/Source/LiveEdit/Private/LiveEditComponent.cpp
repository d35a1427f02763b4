#include "LiveEditComponent.h"

#include "Components/PoseableMeshComponent.h"
#include "Components/SkinnedMeshComponent.h"
#include "Dom/JsonObject.h"
#include "IWebSocket.h"
#include "Modules/ModuleManager.h"
#include "Serialization/JsonReader.h"
#include "Serialization/JsonSerializer.h"
#include "WebSocketsModule.h"

namespace
{
	constexpr int32 ProtocolVersion = 1;
	constexpr float SmplStandingPelvisHeight = 0.9764f;  // metres
	const int32 Parents[24] = {-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21};
	const TCHAR* JointNames[24] = {
		TEXT("pelvis"), TEXT("left_hip"), TEXT("right_hip"), TEXT("spine1"), TEXT("left_knee"), TEXT("right_knee"),
		TEXT("spine2"), TEXT("left_ankle"), TEXT("right_ankle"), TEXT("spine3"), TEXT("left_foot"), TEXT("right_foot"),
		TEXT("neck"), TEXT("left_collar"), TEXT("right_collar"), TEXT("head"), TEXT("left_shoulder"),
		TEXT("right_shoulder"), TEXT("left_elbow"), TEXT("right_elbow"), TEXT("left_wrist"), TEXT("right_wrist"),
		TEXT("left_hand"), TEXT("right_hand")};

	// SMPL (x, y, z, w), right-handed y-up -> Unreal left-handed z-up, actor forward = dancer's facing.
	FQuat ToUnreal(double X, double Y, double Z, double W) { return FQuat(-Z, X, -Y, W); }
	FVector ToUnreal(double X, double Y, double Z) { return FVector(Z, -X, Y) * 100.0; }

	FString Escape(const FString& S)
	{
		FString Out = S.Replace(TEXT("\\"), TEXT("\\\\")).Replace(TEXT("\""), TEXT("\\\""));
		return Out.Replace(TEXT("\n"), TEXT(" ")).Replace(TEXT("\r"), TEXT(" ")).Replace(TEXT("\t"), TEXT(" "));
	}
}

ULiveEditComponent::ULiveEditComponent()
{
	PrimaryComponentTick.bCanEverTick = true;
	for (FQuat& Q : Global) Q = FQuat::Identity;
	const TCHAR* Bones[22] = {
		TEXT("pelvis"), TEXT("thigh_l"), TEXT("thigh_r"), TEXT("spine_01"), TEXT("calf_l"), TEXT("calf_r"),
		TEXT("spine_02"), TEXT("foot_l"), TEXT("foot_r"), TEXT("spine_03"), TEXT("ball_l"), TEXT("ball_r"),
		TEXT("neck_01"), TEXT("clavicle_l"), TEXT("clavicle_r"), TEXT("head"), TEXT("upperarm_l"), TEXT("upperarm_r"),
		TEXT("lowerarm_l"), TEXT("lowerarm_r"), TEXT("hand_l"), TEXT("hand_r")};
	for (int32 J = 0; J < 22; ++J) BoneMap.Add(FName(JointNames[J]), FName(Bones[J]));
}

void ULiveEditComponent::BeginPlay()
{
	Super::BeginPlay();
	FModuleManager::LoadModuleChecked<FWebSocketsModule>(TEXT("WebSockets"));
	Connect();
}

void ULiveEditComponent::EndPlay(const EEndPlayReason::Type Reason)
{
	if (Socket.IsValid())
	{
		Socket->OnConnected().Clear();
		Socket->OnConnectionError().Clear();
		Socket->OnClosed().Clear();
		Socket->OnMessage().Clear();
		Socket->Close();
		Socket.Reset();
	}
	Super::EndPlay(Reason);
}

void ULiveEditComponent::Connect()
{
	if (Socket.IsValid())  // a failed or closed socket: drop it and its callbacks
	{
		Socket->OnConnected().Clear();
		Socket->OnConnectionError().Clear();
		Socket->OnClosed().Clear();
		Socket->OnMessage().Clear();
	}
	Socket = FWebSocketsModule::Get().CreateWebSocket(Url, TEXT(""));
	// The WebSockets module calls these on the game thread.
	Socket->OnConnected().AddLambda([this]() { bConnected = true; ReconnectDelay = 0.5f; });
	Socket->OnConnectionError().AddLambda([this](const FString& Error)
	{
		bConnected = false;
		UE_LOG(LogTemp, Verbose, TEXT("liveedit: cannot connect to %s: %s"), *Url, *Error);
		NextConnectTime = FPlatformTime::Seconds() + ReconnectDelay;
		ReconnectDelay = FMath::Min(ReconnectDelay * 2.f, MaxReconnectDelay);
	});
	Socket->OnClosed().AddLambda([this](int32 /*Code*/, const FString& /*Reason*/, bool /*bClean*/)
	{
		bConnected = false;
		NextConnectTime = FPlatformTime::Seconds() + ReconnectDelay;
		ReconnectDelay = FMath::Min(ReconnectDelay * 2.f, MaxReconnectDelay);
	});
	Socket->OnMessage().AddUObject(this, &ULiveEditComponent::HandleMessage);
	NextConnectTime = TNumericLimits<double>::Max();  // until the attempt fails or the socket closes
	Socket->Connect();
}

void ULiveEditComponent::TickComponent(float DeltaTime, ELevelTick TickType, FActorComponentTickFunction* ThisTickFunction)
{
	Super::TickComponent(DeltaTime, TickType, ThisTickFunction);
	if (!bConnected && FPlatformTime::Seconds() >= NextConnectTime) Connect();
}

void ULiveEditComponent::HandleMessage(const FString& Text)
{
	TSharedPtr<FJsonObject> Msg;
	if (!FJsonSerializer::Deserialize(TJsonReaderFactory<>::Create(Text), Msg) || !Msg.IsValid()) return;
	const FString Type = Msg->GetStringField(TEXT("type"));
	if (Type == TEXT("frame"))
	{
		const TArray<TSharedPtr<FJsonValue>>* Rot;
		const TArray<TSharedPtr<FJsonValue>>* Root;
		if (!Msg->TryGetArrayField(TEXT("rot"), Rot) || Rot->Num() != 4 * NumJoints) return;
		if (!Msg->TryGetArrayField(TEXT("root"), Root) || Root->Num() != 3) return;
		for (int32 J = 0; J < NumJoints; ++J)  // parents come before children in SMPL order
		{
			const FQuat Local = ToUnreal((*Rot)[4 * J]->AsNumber(), (*Rot)[4 * J + 1]->AsNumber(),
			                             (*Rot)[4 * J + 2]->AsNumber(), (*Rot)[4 * J + 3]->AsNumber());
			Global[J] = Parents[J] < 0 ? Local : Global[Parents[J]] * Local;
		}
		RootLocation = ToUnreal((*Root)[0]->AsNumber(), (*Root)[1]->AsNumber(), (*Root)[2]->AsNumber());
		Frame = static_cast<int32>(Msg->GetNumberField(TEXT("frame")));
		Bpm = Msg->GetNumberField(TEXT("bpm"));
		Beat = Msg->GetNumberField(TEXT("beat"));
		Phase = Msg->GetNumberField(TEXT("phase"));
		ActiveEdits.Reset();
		const TArray<TSharedPtr<FJsonValue>>* Edits;
		if (Msg->TryGetArrayField(TEXT("edits"), Edits))
		{
			for (const TSharedPtr<FJsonValue>& E : *Edits) ActiveEdits.Add(E->AsObject()->GetStringField(TEXT("text")));
		}
		++FramesReceived;
	}
	else if (Type == TEXT("reply"))
	{
		FString Request;
		Msg->TryGetStringField(TEXT("request"), Request);
		OnReply.Broadcast(Msg->GetBoolField(TEXT("ok")), Request, Msg->GetStringField(TEXT("message")));
	}
	else if (Type == TEXT("hello") && static_cast<int32>(Msg->GetNumberField(TEXT("protocol"))) != ProtocolVersion)
	{
		UE_LOG(LogTemp, Warning, TEXT("liveedit: the server speaks another protocol version than %d"), ProtocolVersion);
	}
}

int32 ULiveEditComponent::JointIndex(FName SmplJoint) const
{
	for (int32 J = 0; J < NumJoints; ++J)
	{
		if (SmplJoint == FName(JointNames[J])) return J;
	}
	return INDEX_NONE;
}

FRotator ULiveEditComponent::GetJointActorRotation(FName SmplJoint) const
{
	const int32 J = JointIndex(SmplJoint);
	return J == INDEX_NONE ? FRotator::ZeroRotator : Global[J].Rotator();
}

void ULiveEditComponent::CaptureRestPose(USkinnedMeshComponent* Mesh)
{
	if (!Mesh) return;
	RestComponent.Reset();
	// The mesh's rotation within the actor (a yaw of -90 for the Mannequin): deltas defined in actor
	// space are expressed in the mesh's component space through it.
	const FQuat ActorQ = GetOwner() ? GetOwner()->GetActorQuat() : FQuat::Identity;
	MeshInActor = ActorQ.Inverse() * Mesh->GetComponentQuat();
	// The current pose is taken as the rest pose: the mesh should stand in T-pose (see RestCorrection).
	for (const TPair<FName, FName>& Pair : BoneMap)
	{
		const int32 Bone = Mesh->GetBoneIndex(Pair.Value);
		if (Bone == INDEX_NONE) continue;
		const FTransform World = Mesh->GetBoneTransform(Bone);
		RestComponent.Add(Pair.Value, Mesh->GetComponentQuat().Inverse() * World.GetRotation());
		if (Pair.Key == FName(TEXT("pelvis")))
		{
			RestPelvisComponent = Mesh->GetComponentTransform().InverseTransformPosition(World.GetLocation());
			// Scale the dancer's root motion to this skeleton: its pelvis height over SMPL's.
			RootScale = FMath::Max(10.f, static_cast<float>(RestPelvisComponent.Z)) / (SmplStandingPelvisHeight * 100.f);
		}
	}
	bHaveRest = RestComponent.Num() > 0;
}

FRotator ULiveEditComponent::GetBoneComponentRotation(FName BoneName) const
{
	const FQuat* Rest = RestComponent.Find(BoneName);
	const FName* Joint = BoneMap.FindKey(BoneName);
	if (!Rest || !Joint) return FRotator::ZeroRotator;
	const int32 J = JointIndex(*Joint);
	if (J == INDEX_NONE) return Rest->Rotator();
	FQuat Delta = Global[J];  // actor space: the change from the T-pose
	if (const FRotator* Fix = RestCorrection.Find(*Joint)) Delta = Delta * Fix->Quaternion();
	return (MeshInActor.Inverse() * Delta * MeshInActor * *Rest).Rotator();
}

FVector ULiveEditComponent::GetPelvisComponentLocation() const
{
	// The mesh component's origin is the floor point under the character (as for Characters).
	if (!bApplyRootMotion) return RestPelvisComponent;
	return MeshInActor.Inverse().RotateVector(RootLocation * RootScale);
}

void ULiveEditComponent::ApplyToPoseableMesh(UPoseableMeshComponent* Mesh)
{
	if (!Mesh || FramesReceived == 0) return;
	if (!bHaveRest) CaptureRestPose(Mesh);
	for (int32 J = 0; J < NumJoints; ++J)  // parents first, so each bone lands where it should
	{
		const FName* Bone = BoneMap.Find(FName(JointNames[J]));
		if (!Bone || !RestComponent.Contains(*Bone)) continue;
		Mesh->SetBoneRotationByName(*Bone, GetBoneComponentRotation(*Bone), EBoneSpaces::ComponentSpace);
		if (J == 0 && bApplyRootMotion)
		{
			Mesh->SetBoneLocationByName(*Bone, GetPelvisComponentLocation(), EBoneSpaces::ComponentSpace);
		}
	}
}

void ULiveEditComponent::SendJson(const FString& Text)
{
	if (Socket.IsValid() && bConnected) Socket->Send(Text);
}

void ULiveEditComponent::SendEdit(const FString& Text, float DurationBeats)
{
	const FString Trimmed = Text.TrimStartAndEnd();
	if (Trimmed.IsEmpty()) return;
	SendJson(DurationBeats > 0.f
		? FString::Printf(TEXT("{\"type\":\"edit\",\"text\":\"%s\",\"duration\":%g}"), *Escape(Trimmed), DurationBeats)
		: FString::Printf(TEXT("{\"type\":\"edit\",\"text\":\"%s\"}"), *Escape(Trimmed)));
}

void ULiveEditComponent::Undo() { SendJson(TEXT("{\"type\":\"undo\"}")); }

void ULiveEditComponent::ResetEdits() { SendJson(TEXT("{\"type\":\"reset\"}")); }

void ULiveEditComponent::SetStrength(float Value)
{
	SendJson(FString::Printf(TEXT("{\"type\":\"strength\",\"value\":%g}"), Value));
}
